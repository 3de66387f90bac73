"""The photon-jet gap chapter's measurements: decay truth, and the direction the readout
ladder must go (the published files' digitisation never separates worse than the book's)."""

import numpy as np
import pytest

from analysis_lib.metrics import auc, auc_error, signal_score, working_point
from analysis_lib.studies.photon_jets import (READOUT_LADDER, gbdt_logits, raw_cell_features, raw_cell_gbdt,
                                              simulated_task)

from .conftest import simulate_sample


def test_decay_truth_follows_two_body_kinematics():
    from analysis_lib.studies.photon_jets import photon_jet_truth

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


def _gbdt_on(readout, n=2000):
    data = simulated_task("axion1", n, readout, seed=2)
    fit = np.concatenate([data.train, data.validation])
    cells = raw_cell_features(data.sample)
    model = raw_cell_gbdt(cells[fit], data.labels[fit], seed=1, max_iter=100)
    score, labels = signal_score(gbdt_logits(model, cells[data.test])), data.labels[data.test]
    return (auc(score[labels == 2], score[labels != 2]),
            working_point(score[labels == 2], score[labels != 2], 0.90))


def test_published_digitisation_never_separates_worse_than_the_books_readout():
    # Same showers (same seed), two readouts: noise and sampling fluctuations only
    # remove information. Measured on 600 signal and 1200 background test events:
    # rejection 8.2 +- 0.6 against 4.6 +- 0.25, asked to differ by two errors; AUC 0.955
    # against 0.938 (errors 0.006 and 0.007 each, treated as independent although both
    # come from the same events), asked to differ by more than one of them.
    published_auc, published = _gbdt_on(READOUT_LADDER["published files (deposit + spots)"])
    book_auc, book = _gbdt_on(READOUT_LADDER["+ zero suppression (this book)"])
    assert published.rejection - book.rejection > 2 * np.hypot(published.rejection_error, book.rejection_error)
    assert published_auc - book_auc > auc_error(book_auc, 600, 1200)


def test_simulated_task_gives_the_same_showers_whatever_the_readout():
    a = simulated_task("axion1", 100, READOUT_LADDER["deposited energy, no spots"], seed=4)
    b = simulated_task("axion1", 100, READOUT_LADDER["+ zero suppression (this book)"], seed=4)
    assert np.array_equal(a.sample.truth["energy_gev"], b.sample.truth["energy_gev"])
    assert np.array_equal(a.test, b.test)
    assert not np.allclose(a.sample.layers[2], b.sample.layers[2])


def test_the_originals_fixed_gun_makes_axion1_far_easier_than_a_spread_of_impact_points():
    """The original's gun points every primary at one cell corner; the book spreads the
    impact point over half a middle cell. On the same showers' seeds and the published
    digitisation, the raw-cell trees' rejection at 90 % with the fixed gun is asked to be
    at least three times the spread one, by more than two combined errors. Measured at
    1000 events per class: 3.56 +- 0.23 spread, and with the fixed gun none of the 606
    test background events passes (rejection above 606)."""
    from analysis_lib.metrics import rejection_ratio
    from analysis_lib.studies.photon_jets import BOOK_DIRECTION_SPREAD_RAD, ORIGINAL_DIRECTION_SPREAD_RAD

    points = {}
    for spread in (BOOK_DIRECTION_SPREAD_RAD, ORIGINAL_DIRECTION_SPREAD_RAD):
        data = simulated_task("axion1", 1000, READOUT_LADDER["published files (deposit + spots)"], seed=2,
                              direction_spread_rad=spread)
        fit = np.concatenate([data.train, data.validation])
        cells = raw_cell_features(data.sample)
        model = raw_cell_gbdt(cells[fit], data.labels[fit], seed=1, max_iter=100)
        score, labels = signal_score(gbdt_logits(model, cells[data.test])), data.labels[data.test]
        points[spread] = working_point(score[labels == 2], score[labels != 2], 0.90)
    fixed, spread = points[ORIGINAL_DIRECTION_SPREAD_RAD], points[BOOK_DIRECTION_SPREAD_RAD]
    message = f"fixed gun {fixed}, spread {spread}"
    if fixed.n_background_pass == 0:  # no background passes: its rejection is above n_background
        assert fixed.n_background > 3 * (spread.rejection + 2 * spread.rejection_error), message
    else:
        ratio = rejection_ratio(fixed, spread)
        assert ratio.value - 2 * ratio.error > 3, message


def _strip_profiles(energies_gev, eta_rad, start_x0):
    """Bare mean deposit (no fluctuation of any kind) of photons at the given eta angles,
    one event per row; the strip layer summed over phi."""
    from analysis_lib.detectors import ATLAS_ECAL
    from analysis_lib.detectors.shower import Showers

    energies, eta = np.atleast_2d(energies_gev).astype(float), np.atleast_2d(eta_rad).astype(float)
    depth_max, alpha = ATLAS_ECAL.gflash.mean_profile(energies.ravel())
    showers = Showers(energies.ravel(), np.full(energies.size, float(start_x0)), depth_max, alpha)
    strips = ATLAS_ECAL.deposit(showers, np.zeros(energies.size), eta.ravel())[1]
    return strips.reshape(energies.shape + strips.shape[1:]).sum(axis=(1, 2))


def test_a_single_photon_has_no_second_maximum_and_two_photons_four_strips_apart_do():
    """What the strip layer can show, on the bare deposit: a single photon anywhere in a
    strip never has a second local maximum above 5 % of the first; two photons four strips
    apart in eta, the softer with 20 % of the energy, always have one."""
    from analysis_lib.detectors import ATLAS_ECAL
    from analysis_lib.features import strip_maxima

    pitch = ATLAS_ECAL.layer_named("strips").cell_size_rad[1]
    offsets = np.linspace(0.0, 1.0, 11)[:, None] * pitch  # across one strip
    single = _strip_profiles(np.full((11, 1), 60.0), offsets, start_x0=0.5)
    _, e_max1, e_max2, _ = strip_maxima(single)
    assert np.all(e_max2 < 0.05 * e_max1), e_max2 / e_max1
    pair = _strip_profiles(np.tile([48.0, 12.0], (11, 1)), offsets + np.array([[-2.0, 2.0]]) * pitch, start_x0=0.5)
    _, e_max1, e_max2, _ = strip_maxima(pair)
    assert np.all(e_max2 > 0.05 * e_max1), e_max2 / e_max1
