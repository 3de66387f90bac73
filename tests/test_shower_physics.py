"""The shower model and the ATLAS-like ECAL against the physics they claim."""

import numpy as np
import pytest
from scipy import integrate

from analysis_lib.detectors import ATLAS_ECAL
from analysis_lib.detectors.shower import (cell_fractions, make_showers, mean_longitudinal_profile,
                                           profile_peak_x0, radial_containment)
from analysis_lib.features import cluster_energy_gev
from analysis_lib.fitting import fit_gaussian_core, fit_resolution

from .conftest import simulate_sample

GFLASH = ATLAS_ECAL.gflash
STACK = ATLAS_ECAL.stack
TOTAL_X0 = float(ATLAS_ECAL.depth_x0(ATLAS_ECAL.layers[-1].back_mm))


def test_stack_constants_match_the_reference_values():
    # physics.md: 1 mm Pb + 3.25 mm LAr has X0 = 2.11 cm, R_M = 4.3 cm, E_c = 10.4 MeV, Z_eff = 64.
    assert STACK.radiation_length_mm == pytest.approx(21.1, abs=0.3)
    assert STACK.moliere_radius_mm == pytest.approx(43.0, abs=1.5)
    assert STACK.critical_energy_mev == pytest.approx(10.4, abs=0.3)
    assert STACK.z_eff == pytest.approx(64, abs=1.5)
    assert TOTAL_X0 == pytest.approx(24.0, abs=0.2)


def test_cell_fractions_sum_to_one_over_an_infinite_grid():
    edges = np.concatenate([[-1e7], np.linspace(-5, 5, 41), [1e7]])
    for radius in (0.05, 0.3, 1.2):
        total = cell_fractions(edges[None], edges[None], np.array([radius])).sum()
        assert total == pytest.approx(1.0, abs=1e-6)


def test_cell_fraction_matches_numerical_integration_of_the_density():
    radius = 0.7

    def density(y, x):
        return radius**2 / (np.pi * (x * x + y * y + radius * radius) ** 2)

    x_edges, y_edges = np.array([[0.3, 1.1]]), np.array([[-0.4, 0.25]])
    expected, _ = integrate.dblquad(density, 0.3, 1.1, -0.4, 0.25)
    assert cell_fractions(x_edges, y_edges, np.array([radius]))[0, 0, 0] == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def electron_and_photon_showers():
    rng = np.random.default_rng(3)
    return {(kind, e): make_showers(GFLASH, np.full(3000, e), kind == "photon", rng)
            for kind in ("electron", "photon") for e in (10.0, 40.0, 250.0)}


def test_depth_of_maximum_follows_ln_energy(electron_and_photon_showers):
    depth = np.linspace(0, 30, 1201)
    peak = {key: profile_peak_x0(sh, depth) for key, sh in electron_and_photon_showers.items()}
    slope = (peak["electron", 250.0] - peak["electron", 10.0]) / np.log(25.0)
    assert slope == pytest.approx(1.0, abs=0.15)  # t_max = ln(E/E_c) + C
    for e in (10.0, 40.0, 250.0):
        pdg = np.log(1000 * e / STACK.critical_energy_mev) - 0.5
        assert peak["electron", e] == pytest.approx(pdg, abs=1.0)
        # Photons first travel to their conversion point, 9/7 X0 on average.
        assert peak["photon", e] - peak["electron", e] == pytest.approx(9 / 7, abs=0.35)


def test_mean_profile_is_normalised(electron_and_photon_showers):
    depth = np.linspace(0, 60, 6001)
    profile = mean_longitudinal_profile(electron_and_photon_showers["photon", 40.0], depth)
    assert np.trapezoid(profile, depth) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("energy", [10.0, 40.0, 250.0])
def test_lateral_containment(electron_and_photon_showers, energy):
    showers = electron_and_photon_showers["electron", energy]
    total = radial_containment(GFLASH, showers, 1e6, TOTAL_X0)
    within_1 = np.mean(radial_containment(GFLASH, showers, 1.0, TOTAL_X0) / total)
    within_35 = np.mean(radial_containment(GFLASH, showers, 3.5, TOTAL_X0) / total)
    assert 0.87 < within_1 < 0.94  # ~90 % within one Moliere radius
    assert 0.98 < within_35 < 0.995  # ~99 % within 3.5
    assert 0.98 < total.mean() <= 1.0  # 24 X0 contain all but about a per cent


def _relative_resolution(detector, energies, n_events):
    sigma, error = [], []
    for i, energy in enumerate(energies):
        sample = simulate_sample("gamma", n_events, seed=100 + i, detector=detector, energy_range_gev=(energy, energy))
        fit = fit_gaussian_core(cluster_energy_gev(sample, detector) / energy)
        sigma.append(fit["sigma"] / fit["mu"])
        error.append(fit.errors["sigma"] / fit["mu"])
    return fit_resolution(energies, sigma, error)


ENERGIES = [10.0, 20.0, 40.0, 80.0, 150.0, 250.0]


@pytest.mark.parametrize("energy", [5.0, 10.0])
def test_sampling_fluctuations_give_the_configured_stochastic_term(energy):
    # At low energy leakage is negligible: sigma/E = a / sqrt(E_visible).
    detector = ATLAS_ECAL.ideal()
    sample = simulate_sample("gamma", 2000, seed=int(energy), detector=detector, energy_range_gev=(energy, energy))
    fit = fit_gaussian_core(sample.total_energy_gev())
    assert fit["sigma"] / np.sqrt(fit["mu"]) == pytest.approx(ATLAS_ECAL.sampling_term, rel=0.06)


def test_sampling_only_resolution_fit():
    # Above ~50 GeV the fluctuating leakage out of 24 X0 adds a constant-like term of
    # about 1 %, which the three-term fit shares with a slightly smaller a.
    fit = _relative_resolution(ATLAS_ECAL.ideal(), ENERGIES, 1500)
    assert 0.075 < fit["a"] < 0.11
    assert 0.003 < fit["c"] < 0.015


def test_full_detector_resolution_has_noise_and_constant_terms():
    fit = _relative_resolution(ATLAS_ECAL, ENERGIES, 1500)
    assert 0.07 < fit["a"] < 0.13
    assert 0.05 < fit["b"] < 0.6  # GeV: noise of the ~200 cluster cells after zero suppression
    assert ATLAS_ECAL.constant_term * 0.8 < fit["c"] < 0.02


def test_response_is_linear_and_nearly_complete():
    means = []
    for energy in (20.0, 200.0):
        sample = simulate_sample("gamma", 800, seed=int(energy), energy_range_gev=(energy, energy))
        means.append(fit_gaussian_core(cluster_energy_gev(sample, ATLAS_ECAL) / energy)["mu"])
    assert all(0.94 < m < 1.0 for m in means)
    assert means[0] == pytest.approx(means[1], abs=0.015)


def test_no_cell_is_negative_and_zero_suppression_applies():
    sample = simulate_sample("pi0", 300, seed=1)
    for layer, geometry in zip(sample.layers, ATLAS_ECAL.layers):
        assert layer.min() >= 0
        kept = layer[layer > 0]
        assert kept.min() >= ATLAS_ECAL.zero_suppression_sigma * geometry.noise_mev
