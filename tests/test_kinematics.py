"""Decay kinematics of the photon-jet signals and the pi0."""

import numpy as np
import pytest

from analysis_lib.detectors.kinematics import PI0_MASS_GEV, direction_from_angles, final_state
from analysis_lib.errors import ParameterError
from analysis_lib.features import energy_weighted_rms_angle, photon_pair_separations


def _truth(particle, energy, mass=1.0, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    energies = np.full(n, energy)
    p4, _ = final_state(particle, energies, direction_from_angles(np.zeros(n), np.zeros(n)), rng, mass)
    tx, ty = np.arctan2(p4[..., 1], p4[..., 3]), np.arctan2(p4[..., 2], p4[..., 3])
    return p4, {"energy_gev": energies, "photon_energy_gev": p4[..., 0], "photon_theta_x_rad": tx,
                "photon_theta_y_rad": ty}


@pytest.mark.parametrize("particle,n_photons", [("pi0", 2), ("axion1", 2), ("scalar1", 4), ("axion2", 6)])
def test_decays_conserve_four_momentum_and_make_massless_photons(particle, n_photons):
    p4, _ = _truth(particle, 100.0, n=2000)
    assert p4.shape[1] == n_photons
    total = p4.sum(axis=1)
    mass = np.sqrt(total[:, 0] ** 2 - np.sum(total[:, 1:] ** 2, axis=1))
    expected = PI0_MASS_GEV if particle == "pi0" else 1.0
    assert np.allclose(total[:, 0], 100.0, rtol=1e-10)
    assert np.allclose(mass, expected, rtol=1e-6)
    assert np.allclose(p4[..., 0] ** 2, np.sum(p4[..., 1:] ** 2, axis=-1), atol=1e-8)


@pytest.mark.parametrize("particle,mass", [("pi0", PI0_MASS_GEV), ("axion1", 1.0)])
def test_two_photon_opening_angle_distribution(particle, mass):
    energy = 100.0
    _, truth = _truth(particle, energy, mass)
    theta_min = 2 * np.arcsin(mass / energy)
    ratio = photon_pair_separations(truth)[:, 0] / theta_min
    assert ratio.min() > 0.999
    assert np.median(ratio) == pytest.approx(2 / np.sqrt(3), rel=0.02)  # P(theta<t) = sqrt(1 - theta_min^2/t^2)


@pytest.mark.parametrize("particle", ["pi0", "axion1", "scalar1", "axion2"])
def test_energy_weighted_rms_angle_is_m_over_e(particle):
    mass = PI0_MASS_GEV if particle == "pi0" else 1.0
    _, truth = _truth(particle, 60.0, n=3000)
    assert np.median(energy_weighted_rms_angle(truth) * 60.0 / mass) == pytest.approx(1.0, abs=0.01)


def test_three_body_decay_fills_the_dalitz_plot_flat():
    # For flat phase space the pi0 pair-mass squared m12^2 has mean (M^2 + 3 m^2) / 3.
    p4, _ = _truth("axion2", 50.0, n=20000, seed=4)
    pions = p4.reshape(len(p4), 3, 2, 4).sum(axis=2)
    pair = pions[:, 0] + pions[:, 1]
    m12_sq = pair[:, 0] ** 2 - np.sum(pair[:, 1:] ** 2, axis=1)
    assert m12_sq.mean() == pytest.approx((1.0 + 3 * PI0_MASS_GEV**2) / 3, rel=0.01)


def test_impossible_masses_are_refused():
    rng = np.random.default_rng(0)
    direction = direction_from_angles(np.zeros(3), np.zeros(3))
    with pytest.raises(ParameterError, match="mass above"):
        final_state("axion2", np.full(3, 50.0), direction, rng, mass_gev=0.3)
    with pytest.raises(ParameterError, match="unknown particle"):
        final_state("graviton", np.full(3, 50.0), direction, rng)
