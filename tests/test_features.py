"""The nine shower-shape variables on hand-made images whose values are known."""

import numpy as np
import pytest

from analysis_lib.detectors import ATLAS_ECAL
from analysis_lib.errors import ParameterError
from analysis_lib.features import physics_variables, shower_shapes, strip_maxima
from analysis_lib.studies.photon_jets import point_clouds
from analysis_lib.io import ShowerSample


def _event(strip_row=None, strip_row2=None, middle=None, presampler=0.0, back=0.0):
    """One event (MeV). strip_row: {eta index: energy} in phi row 1 (row 2 for strip_row2);
    middle: {(phi, eta): energy}."""
    layers = [np.zeros((1,) + shape, np.float32) for shape in ATLAS_ECAL.layer_shapes]
    layers[0][0, 0, 0] = presampler
    for row, cells in ((1, strip_row or {}), (2, strip_row2 or {})):
        for eta, e in cells.items():
            layers[1][0, row, eta] = e
    for (phi, eta), e in (middle or {(8, 8): 1000.0}).items():
        layers[2][0, phi, eta] = e
    layers[3][0, 0, 0] = back
    return ShowerSample(layers)


def _shapes(definitions="atlas", **kwargs):
    return {k: float(v[0]) for k, v in shower_shapes(_event(**kwargs), ATLAS_ECAL, definitions).items()}


def test_f1_is_the_strip_fraction():
    s = _shapes(strip_row={60: 1000.0}, middle={(8, 8): 2500.0}, presampler=500.0, back=1000.0)
    assert s["f1"] == pytest.approx(1000.0 / 5000.0)


def test_strip_widths():
    # 2 GeV at i_max, 1 GeV on each neighbour: w_s3 = sqrt(2 * 1 / 4); a far cell only enters w_stot.
    s = _shapes(strip_row={60: 2000.0, 59: 1000.0, 61: 1000.0, 66: 1000.0})
    assert s["w_s3"] == pytest.approx(np.sqrt(2 / 4))
    assert s["w_stot"] == pytest.approx(np.sqrt((1 + 1 + 36) / 5))


def test_f_side_and_the_phi_merging():
    # Row 2 is the hotter neighbour of row 1 and is merged in: E(+-1) = 3 + 1, E(+-3) - E(+-1) = 1.
    s = _shapes(strip_row={60: 3000.0, 63: 500.0}, strip_row2={60: 1000.0, 57: 500.0})
    assert s["f_side"] == pytest.approx(1.0 / 4.0)


def test_second_maximum_is_a_local_maximum_away_from_the_first():
    # Neighbour 61 (1.5 GeV) is not a maximum; the local maximum at 65 (1 GeV) is; 63 is the valley.
    s = _shapes(strip_row={60: 4000.0, 61: 1500.0, 62: 600.0, 63: 200.0, 64: 500.0, 65: 1000.0, 66: 300.0})
    assert s["e_ratio"] == pytest.approx((4.0 - 1.0) / (4.0 + 1.0))
    assert s["delta_e_s"] == pytest.approx(1.0 - 0.2)


def test_the_original_study_takes_the_second_hottest_cell_and_one_phi_row():
    # The same event: the original's second maximum is the neighbour 61 (1.5 GeV), its minimum 61
    # itself; its f_side reads row 1 only, without the 1 GeV of row 2 that ATLAS merges in.
    event = dict(strip_row={60: 4000.0, 61: 1500.0, 62: 600.0, 63: 200.0, 64: 500.0, 65: 1000.0, 66: 300.0},
                 strip_row2={60: 1000.0})
    s = _shapes("original", **event)
    assert s["e_ratio"] == pytest.approx((4.0 - 1.5) / (4.0 + 1.5))
    assert s["delta_e_s"] == pytest.approx(0.0)
    assert s["f_side"] == pytest.approx((0.6 + 0.2) / (1.5 + 4.0))
    atlas = _shapes(**event)
    assert atlas["f_side"] == pytest.approx((0.6 + 0.2) / (1.5 + 5.0))
    assert {k: v for k, v in s.items() if k in ("f1", "r_eta", "r_phi", "w_eta2")} == pytest.approx(
        {k: v for k, v in atlas.items() if k in ("f1", "r_eta", "r_phi", "w_eta2")})


def test_unknown_definitions_are_refused():
    with pytest.raises(ParameterError, match="atlas"):
        _shapes("cms", strip_row={60: 1000.0})


def test_single_peak_has_no_second_maximum():
    s = _shapes(strip_row={60: 4000.0, 61: 1500.0, 59: 1000.0})
    assert s["e_ratio"] == pytest.approx(1.0) and s["delta_e_s"] == pytest.approx(0.0)


def test_strip_maxima_ignore_cells_beyond_the_search_window():
    profile = np.zeros((1, 128))
    profile[0, [40, 70]] = [5.0, 3.0]  # 30 strips apart: outside +-20
    assert strip_maxima(profile)[2][0] == 0.0


def test_middle_layer_ratios_and_width():
    middle = {(8, 8): 4000.0, (8, 9): 1000.0, (8, 7): 1000.0,  # 3 eta x 1 phi core
              (10, 8): 1000.0,  # 2 phi cells away: in 3x7 and 3x5, not in 3x3
              (8, 10): 2000.0}  # 2 eta cells away: in 7x7 only
    s = _shapes(middle=middle)
    assert s["r_eta"] == pytest.approx(7000.0 / 9000.0)
    assert s["r_phi"] == pytest.approx(6000.0 / 7000.0)
    pitch = ATLAS_ECAL.layers[2].cell_size_rad[1]
    assert s["w_eta2"] == pytest.approx(pitch * np.sqrt(2000.0 / 7000.0))


def test_physics_variables():
    v = {k: float(x[0]) for k, x in physics_variables(_event(strip_row={60: 1000.0}, middle={(8, 8): 2000.0},
                                                             presampler=500.0, back=500.0), ATLAS_ECAL).items()}
    assert v["total_e"] == pytest.approx(4.0) and v["presampler_e"] == pytest.approx(0.5)
    assert v["depth_weighted_e"] == pytest.approx((0 * 0.5 + 1 * 1 + 2 * 2 + 3 * 0.5) / 4)
    assert v["middle_eta2"] == pytest.approx(0.0, abs=1e-12)


def test_point_clouds_keep_the_cells_with_energy_hottest_first():
    cloud = point_clouds(_event(strip_row={60: 300.0, 62: 100.0}, middle={(8, 8): 800.0}), ATLAS_ECAL, max_points=8)
    assert cloud.shape == (1, 8, 8)
    energy_fraction = cloud[0, :, 2]
    assert np.allclose(energy_fraction[:3], [0.8 * 1000 / 1200, 300 / 1200, 100 / 1200], rtol=1e-5)
    assert np.all(cloud[0, 3:] == 0)
    assert cloud[0, 1, 5] == 1.0 and cloud[0, 0, 6] == 1.0  # layer tags: strips, middle
    # Offsets are in cell pitches of each layer (squashed y = x / (1 + |x| / 8)): the strips are two apart.
    unsquashed = cloud[0, :3, 1] / (1 - np.abs(cloud[0, :3, 1]) / 8)
    assert unsquashed[2] - unsquashed[1] == pytest.approx(2.0, abs=1e-4)


def test_point_clouds_are_the_same_built_in_slices(monkeypatch):
    from analysis_lib.simulation import simulate_sample
    from analysis_lib.studies import photon_jets

    sample = simulate_sample(ATLAS_ECAL, "axion1", 25, seed=4)
    whole = point_clouds(sample, ATLAS_ECAL)
    monkeypatch.setattr(photon_jets, "POINT_CLOUD_CHUNK", 7)
    assert np.array_equal(point_clouds(sample, ATLAS_ECAL), whole)
