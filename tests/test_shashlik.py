"""The shashlik calorimeter and the Lednev shower fit."""

import numpy as np
import pytest
from scipy import integrate

from analysis_lib.detectors import SHASHLIK_ECAL, simulate_to_files
from analysis_lib.errors import EmptyDatasetError, ParameterError
from analysis_lib.fitting import LEDNEV_A, fit_lednev, lednev_cells, lednev_widths
from analysis_lib.io import read_showers

X0 = SHASHLIK_ECAL.stack.radiation_length_mm
WIDTHS = lednev_widths(X0)
CELL = SHASHLIK_ECAL.layer.cell_mm


def _grid(n, pitch=CELL):
    centres = (np.arange(n) - n // 2) * pitch
    return np.meshgrid(centres, centres)


def test_shashlik_stack_matches_the_reference():
    # physics.md: 0.8 mm Pb + 1.5 mm scintillator has X0 = 1.57 cm, R_M = 3.5 cm: one cell is about one R_M.
    assert X0 == pytest.approx(15.7, abs=0.3)
    assert SHASHLIK_ECAL.stack.moliere_radius_mm == pytest.approx(35.0, abs=1.5)
    assert CELL / SHASHLIK_ECAL.stack.moliere_radius_mm == pytest.approx(1.0, abs=0.15)


def test_lednev_cells_sum_to_one_over_an_infinite_grid():
    x, y = _grid(201, 20.0)  # +-2 m
    assert lednev_cells(3.0, -5.0, x, y, 20.0, WIDTHS).sum() == pytest.approx(1.0, abs=2e-4)


def test_lednev_cell_matches_numerical_integration_of_the_density():
    def density(yy, xx):
        return sum(a * b / (2 * np.pi * (xx * xx + yy * yy + b * b) ** 1.5) for a, b in zip(LEDNEV_A, WIDTHS))

    expected, _ = integrate.dblquad(density, 5.0, 43.3, -30.0, 8.3)
    cell = lednev_cells(0.0, 0.0, np.array(24.15), np.array(-10.85), 38.3, WIDTHS)
    assert cell == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("truth", [[(50.0, 7.0, -4.0)], [(30.0, -30.0, 10.0), (20.0, 40.0, -15.0)]])
def test_lednev_fit_recovers_truth_on_noiseless_clusters(truth):
    x, y = _grid(5 if len(truth) == 1 else 9)
    cells = sum(e * lednev_cells(px, py, x, y, CELL, WIDTHS) for e, px, py in truth)
    fit = fit_lednev(cells, x, y, CELL, X0, n_photons=len(truth))
    order = np.argsort(fit.x_mm)
    expected = np.array(sorted(truth, key=lambda t: t[1]))
    assert fit.valid
    assert np.allclose(fit.energy_gev[order], expected[:, 0], rtol=1e-3)
    assert np.allclose(fit.x_mm[order], expected[:, 1], atol=0.05)
    assert np.allclose(fit.y_mm[order], expected[:, 2], atol=0.05)


def test_lednev_fit_refuses_an_empty_cluster():
    x, y = _grid(5)
    with pytest.raises(EmptyDatasetError):
        fit_lednev(np.zeros((5, 5)), x, y, CELL, X0)


def test_shashlik_files_round_trip_and_response(tmp_path):
    path = simulate_to_files("shashlik", "gamma", 600, [tmp_path / "g.h5"], seed=2, progress=False,
                             energy_range_gev=(20.0, 20.0))[0]
    sample = read_showers(path, detector=SHASHLIK_ECAL)
    assert sample.layers[0].shape == (600, 25, 49)
    response = sample.layers[0].sum(axis=(1, 2)) / 1000.0 / 20.0
    assert 0.95 < np.median(response) < 1.0
    # sigma/E = 7 %/sqrt(E) (+) 1 % (+) leakage: about 2 % at 20 GeV
    assert 0.015 < np.std(response) < 0.03
    again = read_showers(simulate_to_files("shashlik", "gamma", 600, [tmp_path / "h.h5"], seed=2, progress=False,
                                           energy_range_gev=(20.0, 20.0))[0], detector=SHASHLIK_ECAL)
    assert np.array_equal(sample.layers[0], again.layers[0])


def test_showers_from_the_target_lean_outwards():
    rng = np.random.default_rng(0)
    x = np.full(200, 800.0)  # 0.8 m off the beam axis: 24 mrad
    inclined = SHASHLIK_ECAL.mean_image(np.full(200, 50.0), x, np.zeros(200), rng, inclined=True)
    straight = SHASHLIK_ECAL.mean_image(np.full(200, 50.0), x, np.zeros(200), np.random.default_rng(0), inclined=False)
    centres = 0.5 * (SHASHLIK_ECAL.layer.x_edges_mm[1:] + SHASHLIK_ECAL.layer.x_edges_mm[:-1])

    def centroid(image):
        return (image.sum(axis=1) * centres).sum(axis=1) / image.sum(axis=(1, 2))

    shift = np.mean(centroid(inclined) - centroid(straight))
    # The axis moves by tan(theta) * depth of the energy, ~0.024 * 8.5 X0 * 15.7 mm ~ 3 mm; the
    # centre of gravity of 1-R_M cells sees it compressed by their S-curve.
    assert 0.5 < shift < 4.0


def test_shashlik_refuses_unknown_particles():
    with pytest.raises(ParameterError, match="'gamma' or 'diphoton'"):
        SHASHLIK_ECAL.simulate("pi0", 10)


def test_permutation_invariant_loss_is_symmetric_under_swapping_the_photons():
    from analysis_lib.models import PermutationInvariantLoss

    rng = np.random.default_rng(3)
    loss = PermutationInvariantLoss(scale=(2.5, 2.5, 0.5))
    truth = rng.normal(size=(16, 6)).astype("float32")
    prediction = rng.normal(size=(16, 6)).astype("float32")
    swapped = np.concatenate([truth[:, 3:], truth[:, :3]], axis=1)
    assert float(loss(truth, prediction)) == pytest.approx(float(loss(swapped, prediction)), rel=1e-6)
    # a perfect prediction in the other order costs nothing; scales divide each term
    assert float(loss(swapped, truth)) == pytest.approx(0.0, abs=1e-7)
    one_off = truth.copy()
    one_off[:, 2] += 0.5  # one energy off by exactly its scale: 1 / 6 per event
    assert float(loss(truth, one_off)) == pytest.approx(1 / 6, rel=1e-5)


def test_cell_clusters_are_centred_on_the_hottest_cell():
    from analysis_lib.features import cell_clusters

    image = np.zeros((2, 25, 49), np.float32)
    image[0, 12, 30] = 5.0
    image[0, 12, 31] = 2.0
    image[1, 0, 0] = 3.0  # corner: the window reaches outside and is zero-padded
    clusters, cx, cy = cell_clusters(image, SHASHLIK_ECAL.layer, 5)
    assert clusters.shape == (2, 5, 5)
    assert clusters[0, 2, 2] == 5.0 and clusters[0, 2, 3] == 2.0
    assert clusters[1, 2, 2] == 3.0 and clusters[1, :2].sum() == 0
    assert cx[0] == pytest.approx((30.5 - 24.5) * CELL) and cy[0] == pytest.approx(0.0)


def test_core_widths_in_bins_leave_sparse_bins_empty():
    from analysis_lib.fitting import core_widths_in_bins

    rng = np.random.default_rng(4)
    keys = np.concatenate([np.full(4000, 1.5), np.full(10, 2.5)])
    values = np.concatenate([rng.normal(0, 2.0, 4000), rng.normal(0, 1.0, 10)])
    centres, sigma, error = core_widths_in_bins(values, keys, [1.0, 2.0, 3.0])
    assert centres.tolist() == [1.5, 2.5]
    assert sigma[0] == pytest.approx(2.0, rel=0.05) and np.isnan(sigma[1]) and error[0] > 0
