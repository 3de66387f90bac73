"""The shower model and the ATLAS-like ECAL against the physics they claim."""

import numpy as np
import pytest
from scipy import integrate

from analysis_lib.detectors import ATLAS_ECAL, Readout
from analysis_lib.errors import ParameterError
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


def test_zero_suppression_is_symmetric_and_keeps_negative_cells():
    sample = simulate_sample("pi0", 300, seed=1)
    negatives = 0
    for layer, geometry in zip(sample.layers, ATLAS_ECAL.layers):
        kept = layer[layer != 0]
        assert np.abs(kept).min() >= ATLAS_ECAL.zero_suppression_sigma * geometry.noise_mev
        negatives += int((layer < 0).sum())
    # P(noise < -2 sigma) = 2.3 % of the ~400k empty cells
    assert negatives > 1000


def _image_sum_over_energy(detector, energy, n=600):
    sample = simulate_sample("gamma", n, seed=int(energy), detector=detector, energy_range_gev=(energy, energy))
    return float(np.mean(sample.total_energy_gev()) / energy)


def test_whole_image_sum_is_linear_from_10_to_250_gev():
    # One-sided suppression kept every upward noise fluctuation: +5 % at 10 GeV, -2 % at
    # 150 GeV. Symmetric suppression only loses the soft cells of the shower's edge.
    book = [_image_sum_over_energy(ATLAS_ECAL, e) for e in (10.0, 40.0, 250.0)]
    assert all(0.94 < r < 0.985 for r in book)
    assert max(book) - min(book) < 0.03
    # Noise without suppression averages out: the sum equals the noise-free one within
    # the statistics of 2000 events (noise of the 960 cells, 0.66 GeV; sampling term).
    no_suppression = ATLAS_ECAL.with_readout(zero_suppression=False)
    noise_free = ATLAS_ECAL.with_readout(noise=False)
    for energy in (10.0, 250.0):
        error = np.hypot(0.66 / energy, 0.1 / np.sqrt(energy)) / np.sqrt(2000)
        assert _image_sum_over_energy(no_suppression, energy, 2000) == pytest.approx(
            _image_sum_over_energy(noise_free, energy, 2000), abs=4 * error)


def test_spot_fluctuations_keep_the_total_and_give_the_gflash_cell_variance():
    from analysis_lib.detectors.shower import spot_count, spot_fluctuations

    rng = np.random.default_rng(3)
    mean = [np.full((4000, 2, 3), 0.5), np.full((4000, 4), 2.0)[:, :, None]]  # GeV per cell, 11 GeV in all
    spotted = spot_fluctuations(mean, ATLAS_ECAL.stack, rng)
    totals = sum(image.sum(axis=tuple(range(1, image.ndim))) for image in spotted)
    assert np.allclose(totals, 11.0)
    e_spot = 11.0 / np.round(spot_count(ATLAS_ECAL.stack, 11.0))
    cell = spotted[1][:, 0, 0]  # multinomial: var = E_spot E_cell (1 - E_cell / E_total)
    assert cell.var() == pytest.approx(e_spot * 2.0 * (1 - 2.0 / 11.0), rel=0.1)
    assert cell.mean() == pytest.approx(2.0, rel=0.01)


def test_published_readout_is_the_mean_deposit_with_its_spots():
    published = ATLAS_ECAL.with_readout(Readout.published())
    smooth = ATLAS_ECAL.with_readout(Readout.published(), spots=False)
    a, b = (simulate_sample("gamma", 200, seed=4, detector=d, energy_range_gev=(50.0, 50.0))
            for d in (published, smooth))
    assert np.allclose(a.total_energy_gev(), b.total_energy_gev(), rtol=1e-4)  # spots keep each event's total
    assert all((layer >= 0).all() for layer in a.layers)
    assert not np.allclose(a.layers[2], b.layers[2])


def test_an_unknown_readout_effect_is_refused_in_one_sentence():
    with pytest.raises(ParameterError, match="no readout effect pile_up"):
        ATLAS_ECAL.with_readout(pile_up=True)
