"""The photon-jet gap chapter's measurements (``studies.photon_jet_gap``): decay truth, the
direction the readout ladder must go (the published files' digitisation never separates
worse than the book's), the original's particle gun, the oracle from truth and the
training-size slope."""

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from analysis_lib.detectors import ATLAS_ECAL
from analysis_lib.detectors.shower import Showers
from analysis_lib.errors import ParameterError
from analysis_lib.features import strip_maxima
from analysis_lib.metrics import auc_difference, paired_rejection_ratio, rejection_ratio, signal_score, working_point
from analysis_lib.studies.photon_jet_gap import (GUNS, bdt_test_logits, oracle_features, oracle_rejection,
                                                 size_curve_slope)
from analysis_lib.studies.photon_jets import (READOUT_LADDER, gbdt_logits, photon_jet_truth, raw_cell_features,
                                              raw_cell_gbdt, simulated_task)

from .conftest import simulate_sample


def test_decay_truth_follows_two_body_kinematics():
    sample = simulate_sample("axion1", 4000, seed=8)
    truth = photon_jet_truth(sample)
    share = truth["softest_fraction"]
    # A boosted isotropic two-body decay shares the energy uniformly: P(z < 5 %) = 10 %.
    assert np.mean(share < 0.05) == pytest.approx(0.10, abs=0.02)
    assert 0 < share.min() and share.max() <= 0.5
    # The opening angle is at least 2 m / E (m = 1 GeV), reached at an even split.
    opening = np.hypot(truth["spread_phi_rad"], truth["spread_eta_rad"])
    assert np.all(opening >= 0.98 * 2.0 / sample.truth["energy_gev"])
    single = photon_jet_truth(simulate_sample("gamma", 50, seed=8))
    assert np.all(single["softest_fraction"] == 1.0) and np.all(single["spread_eta_rad"] == 0.0)


@lru_cache(maxsize=None)
def _gbdt_on(readout, n=2000):
    """(signal scores, background scores) of the raw-cell tree on axion1's test events with
    ``readout``, computed once; the same seed gives the same showers and test events for
    every readout."""
    data = simulated_task("axion1", n, readout, seed=2)
    fit = np.concatenate([data.train, data.validation])
    cells = raw_cell_features(data.sample)
    model = raw_cell_gbdt(cells[fit], data.labels[fit], seed=1, max_iter=100)
    score, labels = signal_score(gbdt_logits(model, cells[data.test])), data.labels[data.test]
    return score[labels == 2], score[labels != 2]


def test_published_digitisation_never_separates_worse_than_the_books_readout():
    """Same showers (same seed), two readouts: noise and sampling fluctuations only remove
    information. Both comparisons are paired, as the events are the same: the rejection
    ratio at 90 % (paired bootstrap) and the AUC difference (DeLong), each asked to exceed
    two of its errors. Measured on 600 signal and 1200 background test events: rejection
    8.2 against 4.6."""
    published = _gbdt_on(READOUT_LADDER["published files (deposit + spots)"])
    book = _gbdt_on(READOUT_LADDER["+ zero suppression (this book)"])
    ratio = paired_rejection_ratio(*published, *book, 0.90)
    assert ratio.errors_from(1.0) > 2, ratio
    difference, error = auc_difference(*published, *book)
    assert difference > 2 * error, (difference, error)


def test_simulated_task_gives_the_same_showers_whatever_the_readout():
    a = simulated_task("axion1", 100, READOUT_LADDER["deposited energy, no spots"], seed=4)
    b = simulated_task("axion1", 100, READOUT_LADDER["+ zero suppression (this book)"], seed=4)
    assert np.array_equal(a.sample.truth["energy_gev"], b.sample.truth["energy_gev"])
    assert np.array_equal(a.test, b.test)
    assert not np.allclose(a.sample.layers[2], b.sample.layers[2])


def test_the_originals_whole_gun_lifts_the_shower_shape_bdt_on_axion1_towards_table_2():
    """With the original's gun (fixed direction from 288 mm behind the origin) the nine-variable
    BDT on axion1 rejects far more than with the book's gun, on the same showers' seeds and
    the published digitisation. Measured at 2000 events per class: 3.21 +- 0.14 with the
    book's gun; asked: the ratio at least 5 by two errors (at 5000 events per class the
    chapter's way gave 4.5 +- 0.2 against 158 +- 36, the original's Table 2 being 188)."""
    samples = {name: simulated_task("axion1", 2000, READOUT_LADDER["published files (deposit + spots)"], seed=5,
                                    **GUNS[name]) for name in ("this book", "the original's gun")}
    scores = {}
    for name, data in samples.items():
        score, labels = signal_score(bdt_test_logits(data, seed=5)), data.labels[data.test]
        scores[name] = (score[labels == 2], score[labels != 2])
    ratio = paired_rejection_ratio(*scores["the original's gun"], *scores["this book"], 0.90)
    assert ratio.errors_from(5.0) > 2, ratio


def test_a_vertex_behind_the_origin_moves_a_shower_out_by_its_lever_arm():
    """The cells are angles seen from the origin: a photon at angle theta from a vertex d mm
    behind it lands at (z + d) tan(theta), so its strip centroid is (z + d) / z times
    further out (1.19 at the strips for the original's 288 mm)."""
    strips = ATLAS_ECAL.layer_named("strips")
    eta_centres = 0.5 * (strips.eta_edges_rad[1:] + strips.eta_edges_rad[:-1])
    depth_max, alpha = ATLAS_ECAL.gflash.mean_profile(np.array([100.0]))
    showers = Showers(np.array([100.0]), np.array([0.5]), depth_max, alpha)
    theta = np.array([0.02])

    def centroid(vertex_z_mm):
        profile = ATLAS_ECAL.deposit(showers, np.zeros(1), theta, vertex_z_mm)[1].sum(axis=1)[0]
        return np.sum(profile * eta_centres) / profile.sum()

    z_mm = 0.5 * (strips.front_mm + strips.back_mm)
    assert centroid(0.0) == pytest.approx(0.02, rel=0.02)
    assert centroid(-288.0) / centroid(0.0) == pytest.approx((z_mm + 288.0) / z_mm, rel=0.02)


def test_halving_the_core_radius_narrows_a_photon_in_the_strips():
    """The chapter's single switch of the shower's core: with the core radius halved, more of
    a photon's strip energy stays in its hottest strip (bare deposit, photon at a strip's
    centre), and the energy in the strips is unchanged."""
    depth_max, alpha = ATLAS_ECAL.gflash.mean_profile(np.array([60.0]))
    showers = Showers(np.array([60.0]), np.array([0.5]), depth_max, alpha)
    half_strip = 0.5 * ATLAS_ECAL.layer_named("strips").cell_size_rad[1]
    profiles = [detector.deposit(showers, np.zeros(1), np.array([half_strip]))[1].sum(axis=1)[0]
                for detector in (ATLAS_ECAL, replace(ATLAS_ECAL, core_radius_scale=0.5))]
    core, halved = (p.max() / p.sum() for p in profiles)
    assert halved > core + 0.05, (core, halved)
    assert profiles[1].sum() == pytest.approx(profiles[0].sum(), rel=1e-3)  # the window's edges leak 1e-4


def test_the_oracle_sees_one_photon_as_one_and_merges_a_pair_within_a_cell():
    """Without smearing: a single photon gives share 1 at the centroid; two photons four
    strips apart are both seen, with their shares; two photons within one strip and one
    middle cell are seen as one."""
    exact = replace(ATLAS_ECAL, sampling_term=0.0)
    strip = ATLAS_ECAL.layer_named("strips").cell_size_rad[1]
    energy = np.array([[50.0, 0.0], [40.0, 10.0], [40.0, 10.0]])
    eta = np.array([[0.0, 0.0], [0.0, 4 * strip], [0.0, 0.5 * strip]])
    features = oracle_features(energy, np.zeros_like(eta), eta, np.random.default_rng(1), detector=exact,
                               position_resolution_cells=0.0)
    total, shares, eta_offsets = features[:, 0], features[:, 1:3], features[:, 3:5]
    np.testing.assert_allclose(total, 50.0)
    np.testing.assert_allclose(shares, [[1.0, 0.0], [0.8, 0.2], [1.0, 0.0]])
    np.testing.assert_allclose(eta_offsets[1], [-0.8, 3.2])  # strips from the energy centroid
    np.testing.assert_allclose(eta_offsets[[0, 2]], 0.0)


def test_the_oracle_from_truth_is_above_what_the_images_give():
    """The oracle from the decays' truth photons, smeared by the sampling term and 0.3 of a
    cell and merged within one cell, rejects more than the raw-cell tree on the published
    digitisation's images of axion1 (2000 events per class), by two errors of their ratio
    (independent samples; intervals combined in ln R). The oracle's rejection at 90 % sits on
    a steep part of its ROC curve (the merged pairs look like one photon), so the threshold's
    scatter dominates its error and it needs a large sample: 30 000 events per class, three
    seconds. Measured: 33.1 +- 4.4 against 8.2 (6.6-11), ratio 4.0 +- 1.1; at 5 000 per
    class the oracle's 14 (10-25) would not resolve it."""
    oracle = oracle_rejection("axion1", 30000, seed=1)
    images = working_point(*_gbdt_on(READOUT_LADDER["published files (deposit + spots)"]), 0.90)
    ratio = rejection_ratio(oracle, images)
    assert ratio.errors_from(1.0) > 2, (oracle, images, ratio)


def test_the_training_size_slope_recovers_a_power_law_and_needs_three_points():
    sizes = np.array([500, 1000, 2000, 4000])
    rejections = 2.0 * sizes**0.5
    slope, error = size_curve_slope(sizes, rejections, 0.05 * rejections)
    assert slope == pytest.approx(0.5, abs=1e-9) and 0 < error < 0.1
    with pytest.raises(ParameterError, match="three measured"):
        size_curve_slope(sizes[:2], rejections[:2], rejections[:2] * 0.05)


def _strip_profiles(energies_gev, eta_rad, start_x0):
    """Bare mean deposit (no fluctuation of any kind) of photons at the given eta angles,
    one event per row; the strip layer summed over phi."""
    energies, eta = np.atleast_2d(energies_gev).astype(float), np.atleast_2d(eta_rad).astype(float)
    depth_max, alpha = ATLAS_ECAL.gflash.mean_profile(energies.ravel())
    showers = Showers(energies.ravel(), np.full(energies.size, float(start_x0)), depth_max, alpha)
    strips = ATLAS_ECAL.deposit(showers, np.zeros(energies.size), eta.ravel())[1]
    return strips.reshape(energies.shape + strips.shape[1:]).sum(axis=(1, 2))


def test_a_single_photon_has_no_second_maximum_and_two_photons_four_strips_apart_do():
    """What the strip layer can show, on the bare deposit: a single photon anywhere in a
    strip never has a second local maximum above 5 % of the first; two photons four strips
    apart in eta, the softer with 20 % of the energy, always have one."""
    pitch = ATLAS_ECAL.layer_named("strips").cell_size_rad[1]
    offsets = np.linspace(0.0, 1.0, 11)[:, None] * pitch  # across one strip
    single = _strip_profiles(np.full((11, 1), 60.0), offsets, start_x0=0.5)
    _, e_max1, e_max2, _ = strip_maxima(single)
    assert np.all(e_max2 < 0.05 * e_max1), e_max2 / e_max1
    pair = _strip_profiles(np.tile([48.0, 12.0], (11, 1)), offsets + np.array([[-2.0, 2.0]]) * pitch, start_x0=0.5)
    _, e_max1, e_max2, _ = strip_maxima(pair)
    assert np.all(e_max2 > 0.05 * e_max1), e_max2 / e_max1
