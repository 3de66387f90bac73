"""The shashlik calorimeter and the Lednev shower fit."""

import numpy as np
import pytest
from scipy import integrate

from analysis_lib.detectors import SHASHLIK_ECAL
from analysis_lib.simulation import simulate_to_files
from analysis_lib.errors import EmptyDatasetError, ParameterError
from analysis_lib.studies.lednev import LEDNEV_A, CellNoise, fit_lednev, lednev_cells, lednev_widths
from analysis_lib.io import read_showers

X0 = SHASHLIK_ECAL.stack.radiation_length_mm
WIDTHS = lednev_widths(X0)
CELL = SHASHLIK_ECAL.layer.cell_mm
NOISE = CellNoise.of(SHASHLIK_ECAL)


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
    fit = fit_lednev(cells, x, y, CELL, X0, n_photons=len(truth), noise=NOISE)
    order = np.argsort(fit.x_mm)
    expected = np.array(sorted(truth, key=lambda t: t[1]))
    assert fit.valid
    assert np.allclose(fit.energy_gev[order], expected[:, 0], rtol=1e-3)
    assert np.allclose(fit.x_mm[order], expected[:, 1], atol=0.05)
    assert np.allclose(fit.y_mm[order], expected[:, 2], atol=0.05)


def test_lednev_fit_refuses_an_empty_cluster():
    x, y = _grid(5)
    with pytest.raises(EmptyDatasetError):
        fit_lednev(np.zeros((5, 5)), x, y, CELL, X0, noise=NOISE)


def test_shashlik_files_round_trip_and_response(tmp_path):
    path = simulate_to_files(SHASHLIK_ECAL, "gamma", 600, [tmp_path / "g.h5"], seed=2, progress=False,
                             energy_range_gev=(20.0, 20.0))[0]
    sample = read_showers(path, detector=SHASHLIK_ECAL)
    assert sample.layers[0].shape == (600, 25, 49)
    response = sample.layers[0].sum(axis=(1, 2)) / 1000.0 / 20.0
    assert 0.95 < np.median(response) < 1.0
    # sigma/E = 7 %/sqrt(E) (+) 1 % (+) leakage: about 2 % at 20 GeV
    assert 0.015 < np.std(response) < 0.03
    again = read_showers(simulate_to_files(SHASHLIK_ECAL, "gamma", 600, [tmp_path / "h.h5"], seed=2, progress=False,
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
    from analysis_lib.studies.shashlik import cell_clusters

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


def test_lednev_gradient_matches_finite_differences():
    from analysis_lib.studies.lednev import _lednev_cells_and_gradient

    x, y = _grid(5)
    cells, d_dx, d_dy = _lednev_cells_and_gradient(7.0, -11.0, x, y, CELL, WIDTHS)
    step = 1e-4
    numeric_x = (lednev_cells(7.0 + step, -11.0, x, y, CELL, WIDTHS)
                 - lednev_cells(7.0 - step, -11.0, x, y, CELL, WIDTHS)) / (2 * step)
    numeric_y = (lednev_cells(7.0, -11.0 + step, x, y, CELL, WIDTHS)
                 - lednev_cells(7.0, -11.0 - step, x, y, CELL, WIDTHS)) / (2 * step)
    assert np.allclose(d_dx, numeric_x, atol=1e-9) and np.allclose(d_dy, numeric_y, atol=1e-9)


def _noisy_clusters(n, truth_photons, size, seed):
    rng = np.random.default_rng(seed)
    x, y = _grid(size)
    mean = sum(e * lednev_cells(px[:, None, None], py[:, None, None], x, y, CELL, WIDTHS) for e, px,
               py in truth_photons)
    noise = rng.normal(0, 0.07, mean.shape) * np.sqrt(np.clip(mean, 0, None)) + rng.normal(0, 0.005, mean.shape)
    return mean + noise, x, y


def test_batch_lednev_fit_agrees_with_iminuit_and_recovers_truth():
    from analysis_lib.studies.lednev import fit_lednev_batch

    rng = np.random.default_rng(8)
    px, py = rng.uniform(-CELL / 2, CELL / 2, (2, 40))
    clusters, x, y = _noisy_clusters(40, [(40.0, px, py)], 5, seed=9)
    photons, chi2 = fit_lednev_batch(clusters, x, y, CELL, X0, n_photons=1, noise=NOISE)
    assert photons.shape == (40, 1, 3)
    for i in range(5):
        reference = fit_lednev(clusters[i], x, y, CELL, X0, 1, noise=NOISE)
        assert photons[i, 0, 0] == pytest.approx(reference.x_mm[0], abs=0.01)
        assert photons[i, 0, 2] == pytest.approx(reference.energy_gev[0], rel=1e-3)
        assert chi2[i] == pytest.approx(reference.chi2, abs=1e-3)
    # noise of a 40 GeV shower in ~1 R_M cells: sub-millimetre, and no bias
    assert np.std(photons[:, 0, 0] - px) < 1.0 and abs(np.mean(photons[:, 0, 0] - px)) < 0.3


def test_batch_lednev_fit_separates_two_noiseless_photons():
    from analysis_lib.studies.lednev import fit_lednev_batch

    truth = [(30.0, np.array([-30.0, 5.0]), np.array([10.0, 0.0])), (20.0, np.array([40.0, 60.0]), np.array([-15.0,
                                                                                                             30.0]))]
    x, y = _grid(9)
    clusters = sum(e * lednev_cells(px[:, None, None], py[:, None, None], x, y, CELL, WIDTHS) for e, px, py in truth)
    photons, chi2 = fit_lednev_batch(clusters, x, y, CELL, X0, n_photons=2, noise=NOISE)
    for event in range(2):
        found = photons[event][np.argsort(photons[event, :, 0])]
        assert np.allclose(found[:, 0], [truth[0][1][event], truth[1][1][event]], atol=0.05)
        assert np.allclose(found[:, 2], [30.0, 20.0], rtol=1e-3)
    assert np.all(chi2 < 1e-6)


def test_inclination_correction_recovers_the_shower_depth():
    from analysis_lib.studies.lednev import InclinationCorrection

    rng = np.random.default_rng(5)
    truth = np.stack([rng.uniform(-900, 900, 500), rng.uniform(-450, 450, 500), rng.uniform(5, 100, 500)], -1)[:, None]
    fitted = truth.copy()
    fitted[..., :2] += 180.0 * truth[..., :2] / 33000.0 + rng.normal(0, 1.0, truth[..., :2].shape)
    fitted[..., 2] /= 1.04
    fitted[0, 0, 0] = 1e7  # a failed fit must not pull the calibration
    correction = InclinationCorrection.calibrate(fitted, truth, 33000.0)
    assert correction.depth_mm == pytest.approx(180.0, rel=0.03)
    assert correction.energy_scale == pytest.approx(1.04, rel=1e-6)
    corrected = correction.apply(fitted)[1:]
    assert np.std(corrected[..., 0] - truth[1:, :, 0]) < 1.1


def test_shower_centroids_wander_by_the_lateral_fluctuation():
    from analysis_lib.detectors.shower import axis_jitter_rm, make_showers

    rng = np.random.default_rng(6)
    showers = make_showers(SHASHLIK_ECAL.gflash, np.full(20000, 25.0), True, rng)
    edges = np.linspace(0, 22, 9)
    weighted = np.zeros(20000)
    for front, back in zip(edges[:-1], edges[1:]):
        fraction, _, _ = showers.slice(front, back)
        dx, _ = axis_jitter_rm(showers, fraction, 0.15, rng)
        weighted += fraction * dx
    # sum_k f_k^2 * 0.15^2 / (E f_k) = 0.15^2 * (contained fraction) / E
    assert np.std(weighted) == pytest.approx(0.15 / 5.0, rel=0.05)


def test_single_photon_position_resolution_is_realistic():
    """Lednev fit on simulated 5 GeV photons from the target, after the inclination
    correction: GAMS/COMPASS quote ~6 mm/sqrt(E) (+) 0.5 mm, 2.7 mm at 5 GeV. Without the
    showers' own lateral fluctuations the simulation would give about 1.1 mm."""
    from analysis_lib.studies.shashlik import cell_clusters, cluster_cell_offsets
    from analysis_lib.fitting import fit_gaussian_core
    from analysis_lib.studies.lednev import InclinationCorrection, fit_lednev_batch

    chunk = next(SHASHLIK_ECAL.simulate("gamma", 1000, seed=4, energy_range_gev=(5.0, 5.0)))
    clusters, cx, cy = cell_clusters(chunk["layer_0"] / 1000.0, SHASHLIK_ECAL.layer, 5)
    x, y = cluster_cell_offsets(5, CELL)
    photons, _ = fit_lednev_batch(clusters, x, y, CELL, X0, noise=NOISE)
    photons[..., 0] += cx[:, None]
    photons[..., 1] += cy[:, None]
    truth = np.stack([chunk["photon_x_mm"], chunk["photon_y_mm"], chunk["photon_energy_gev"]], axis=-1)
    correction = InclinationCorrection.calibrate(photons[:500], truth[:500], SHASHLIK_ECAL.target_distance_mm)
    residual = correction.apply(photons[500:])[:, 0, 0] - truth[500:, 0, 0]
    assert 7 * X0 < correction.depth_mm < 12 * X0  # about the depth of the shower's centroid
    assert 2.0 < fit_gaussian_core(residual)["sigma"] < 4.0


def test_huber_permutation_invariant_loss_grows_linearly_far_out():
    from analysis_lib.models import PermutationInvariantLoss

    loss = PermutationInvariantLoss(scale=(1.0, 1.0, 1.0), huber_delta=2.0)
    truth = np.zeros((1, 3), "float32")
    far = np.array([[10.0, 0.0, 0.0]], "float32")
    farther = np.array([[20.0, 0.0, 0.0]], "float32")
    near = np.array([[1.0, 0.0, 0.0]], "float32")
    assert float(loss(truth, near)) == pytest.approx(1 / 3, rel=1e-6)  # quadratic inside delta
    assert float(loss(truth, farther)) - float(loss(truth, far)) == pytest.approx(2 * 2.0 * 10 / 3, rel=1e-5)


def test_photon_targets_round_trip_and_matching():
    from analysis_lib.studies.shashlik import photon_targets, photons_from_targets
    from analysis_lib.metrics import match_photons, photon_residuals

    rng = np.random.default_rng(2)
    photons = np.stack([rng.normal(0, 30, (50, 2)), rng.normal(0, 30, (50, 2)), rng.uniform(2, 80, (50, 2))], -1)
    total = photons[..., 2].sum(axis=1)
    assert np.allclose(photons_from_targets(photon_targets(photons, total), total), photons, rtol=1e-5, atol=1e-4)
    swapped = photons[:, ::-1]
    assert np.array_equal(match_photons(swapped, photons), photons)
    residuals = photon_residuals(swapped, photons)
    assert np.allclose(residuals["x"], 0) and np.allclose(residuals["e"], 0)


def test_residual_files_round_trip_and_refuse_other_files(tmp_path):
    from analysis_lib.errors import DataFileError
    from analysis_lib.io import load_residuals, save_arrays, save_residuals

    residuals = {"Lednev fit": {k: np.arange(5.0) for k in "xye"}, "MLP": {k: -np.arange(5.0) for k in "xye"}}
    save_residuals(tmp_path / "r.h5", residuals, "test", energy_gev=np.ones(5))
    loaded, extra, study = load_residuals(tmp_path / "r.h5")
    assert list(loaded) == ["Lednev fit", "MLP"] and np.array_equal(loaded["MLP"]["y"], -np.arange(5.0))
    assert study == "test" and np.array_equal(extra["energy_gev"], np.ones(5))
    save_arrays(tmp_path / "other.h5", a=np.zeros(3))
    with pytest.raises(DataFileError, match="no residuals"):
        load_residuals(tmp_path / "other.h5")


def test_region_images_carry_coordinates():
    from analysis_lib.studies.shashlik import region_images

    image = np.zeros((1, 25, 49))
    image[0, 3, 40] = 2.0
    image[0, 4, 38] = 1.0
    inputs = region_images(image, SHASHLIK_ECAL.layer)
    assert inputs.shape == (1, 25, 49, 3) and inputs[0, 3, 40, 0] == pytest.approx(2 / 3)
    # offsets from the hottest cell (row 3, column 40) in units of ten cells
    assert inputs[0, 3, 40, 1:] == pytest.approx([0.0, 0.0])
    assert inputs[0, 4, 38, 1:] == pytest.approx([-0.2, 0.1], rel=1e-6)
    assert inputs[0, 0, 0, 1:] == pytest.approx([-4.0, -0.3], rel=1e-6)
    with pytest.raises(EmptyDatasetError):
        region_images(np.zeros((2, 25, 49)), SHASHLIK_ECAL.layer)


def test_the_lednev_fit_weights_cells_with_the_fitted_detectors_own_noise():
    from dataclasses import replace

    noisier = replace(SHASHLIK_ECAL, sampling_term=0.14)
    assert CellNoise.of(SHASHLIK_ECAL) == CellNoise(0.07, 0.005, 0.01)
    assert CellNoise.of(noisier).stochastic == 0.14
    cells = np.array([0.0, 1.0, 4.0])
    assert np.all(CellNoise.of(noisier).variance(cells)[1:] > CellNoise.of(SHASHLIK_ECAL).variance(cells)[1:])


def test_the_residual_and_resolution_panels_show_each_methods_widths():
    """The panels both shashlik chapters draw: one line per method, the resolution points
    at the Gaussian widths the residuals were drawn with."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis_lib.plotting import plot_residuals, plot_resolution_in_bins

    rng = np.random.default_rng(3)
    energy = rng.uniform(10, 100, 20000)
    residuals = {name: {"x": rng.normal(0, width, energy.size), "y": rng.normal(0, width, energy.size),
                        "e": rng.normal(0, width / 100, energy.size)} for name, width in (("fit", 2.0), ("net", 4.0))}
    _, axes = plot_residuals(residuals)
    assert len(axes) == 3 and all(len(ax.get_legend_handles_labels()[1]) == 2 for ax in axes[:1])
    _, (position, energy_axis) = plot_resolution_in_bins(residuals, energy, [10, 55, 100], "photon energy [GeV]")
    widths = [line.get_ydata() for line in position.get_lines() if len(line.get_ydata()) == 2]
    np.testing.assert_allclose(widths, [[2.0, 2.0], [4.0, 4.0]], rtol=0.05)
