"""The LDMX-like Si-W ECAL, its hit files and the hits-to-images conversion."""

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot

from analysis_lib.detectors import LDMX_ECAL
from analysis_lib.simulation import simulate_to_files
from analysis_lib.errors import DataFileError, EmptyDatasetError, ParameterError
from analysis_lib.studies.ldmx import hit_images
from analysis_lib.io import iterate_hits


def test_geometry_matches_the_reference():
    # physics.md: 34 Si layers, 141.9 mm of W = 40.5 X0, front face at 240 mm, last layer at 529 mm
    assert LDMX_ECAL.n_layers == 34
    assert sum(LDMX_ECAL.tungsten_mm) == pytest.approx(141.9)
    assert LDMX_ECAL.layer_depth_x0[-1] == pytest.approx(40.5, abs=0.2)
    assert LDMX_ECAL.layer_z_mm[0] == 240.0 and LDMX_ECAL.layer_z_mm[-1] == pytest.approx(529.0)
    assert np.all(np.diff(LDMX_ECAL.layer_z_mm) > 0)
    pad_area = 1.5 * np.sqrt(3) * LDMX_ECAL.pad_side_mm**2
    assert pad_area == pytest.approx(60.0, rel=0.02)  # 0.60 cm^2


def test_points_go_to_the_nearest_hexagonal_pad():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-100, 100, (2, 5000))
    for layer in (0, 1):
        cx, cy = LDMX_ECAL.pad_centres(x, y, np.full(5000, layer))
        distance = np.hypot(x - cx, y - cy)
        assert distance.max() <= LDMX_ECAL.pad_side_mm + 1e-9  # inside the hexagon's circumcircle
        again = LDMX_ECAL.pad_centres(cx, cy, np.full(5000, layer))  # a centre is its own pad
        assert np.allclose(again, (cx, cy))
    even = LDMX_ECAL.pad_centres(np.array([0.0]), np.array([0.0]), np.array([0]))
    odd = LDMX_ECAL.pad_centres(np.array([0.0]), np.array([0.0]), np.array([1]))
    assert even[0][0] == 0.0 and np.hypot(odd[0][0], odd[1][0]) > 0.5 * LDMX_ECAL.pad_side_mm


def _events(kind, n, mass_mev=100.0, seed=3):
    return LDMX_ECAL.simulate_stream(kind, n, seed, 0, mass_mev)


def _reconstructed(events, max_layer=None):
    out = []
    for z, e in zip(events["z"], events["E"]):
        layer = np.searchsorted(LDMX_ECAL.layer_z_mm, z - 1e-3)
        use = np.ones(len(z), bool) if max_layer is None else layer < max_layer
        out.append((e[use] / LDMX_ECAL.sampling_fraction[layer[use]]).sum() / 1000.0)
    return np.array(out)


def test_signal_recoil_showers_are_measured_and_pass_the_trigger():
    events = _events("signal", 400, mass_mev=1000.0)
    measured = _reconstructed(events)
    assert np.all(_reconstructed(events, 20) < LDMX_ECAL.trigger_gev)
    contained = events["recoil_energy_gev"] > 0.3
    response = measured[contained] / events["recoil_energy_gev"][contained]
    # sampling-fraction calibration of a W/Si shower, minus threshold and lateral losses
    assert 0.75 < np.median(response) < 1.1


def test_heavier_dark_photons_give_harder_wider_recoils():
    def mean_radius(events):
        return np.mean([np.average(np.hypot(x, y), weights=e) for x, y, e in zip(events["x"], events["y"], events["E"])
                        if e.sum() > 0])

    light, heavy = _events("signal", 300, 1.0), _events("signal", 300, 1000.0)
    assert heavy["recoil_energy_gev"].mean() > 3 * light["recoil_energy_gev"].mean()
    assert mean_radius(heavy) > 2 * mean_radius(light)


def test_photonuclear_background_is_busier_than_signal():
    background, signal = _events("background", 300), _events("signal", 300, 1.0)

    def hits(events):
        return np.mean([len(e) for e in events["E"]])

    def depth(events):
        return np.mean([np.average(z, weights=e) for z, e in zip(events["z"], events["E"]) if e.sum() > 0])

    assert hits(background) > 2 * hits(signal)
    assert depth(background) > depth(signal)
    assert np.all(_reconstructed(background, 20) < LDMX_ECAL.trigger_gev)


def test_simulation_refuses_bad_requests():
    with pytest.raises(ParameterError, match="'signal' or 'background'"):
        LDMX_ECAL.simulate("axion", 10)
    with pytest.raises(ParameterError, match="mass"):
        LDMX_ECAL.simulate("signal", 10, mass_mev=-5)


def test_hit_files_round_trip(tmp_path):
    path = simulate_to_files(LDMX_ECAL, "signal", 1200, [tmp_path / "s.root"], seed=4, progress=False,
                             mass_gev=0.05)[0]
    events = list(LDMX_ECAL.simulate("signal", 1200, seed=4, mass_mev=50.0))
    chunks = list(iterate_hits(path, step_size=500, truth=("eventNumber", "mass_mev")))
    assert [len(c["x"]) for c in chunks] == [500, 500, 200]
    x = ak.concatenate([c["x"] for c in chunks])
    expected = [a for chunk in events for a in chunk["x"]]
    assert ak.num(x).tolist() == [len(a) for a in expected]
    assert np.allclose(ak.flatten(x).to_numpy(), np.concatenate(expected))
    assert np.all(ak.concatenate([c["mass_mev"] for c in chunks]).to_numpy() == 50.0)


def _write_tree(path, branches):
    with uproot.recreate(path) as file:
        file.mktree("ecalHits", {k: v.type for k, v in branches.items()})
        file["ecalHits"].extend(branches)


def test_reader_refuses_bad_hit_files(tmp_path):
    good = {k: ak.Array([[1.0, 2.0], [3.0]]) for k in ("x", "y", "z", "E")}
    _write_tree(tmp_path / "no_e.root", {k: v for k, v in good.items() if k != "E"})
    with pytest.raises(DataFileError, match="lacks the branch.*E"):
        next(iterate_hits(tmp_path / "no_e.root"))
    _write_tree(tmp_path / "unequal.root", dict(good, E=ak.Array([[1.0, 2.0], [3.0, 4.0]])))
    with pytest.raises(DataFileError, match="event 1 has 1 x values but 2 E values"):
        next(iterate_hits(tmp_path / "unequal.root"))
    with uproot.recreate(tmp_path / "other.root") as file:
        file["showers"] = {"a": np.arange(3)}
    with pytest.raises(DataFileError, match=r"no hits this library recognises \(looked at RNTuple 'showers'\)"):
        next(iterate_hits(tmp_path / "other.root"))
    (tmp_path / "text.root").write_text("not a ROOT file")
    with pytest.raises(DataFileError, match="not a ROOT file|neither"):
        next(iterate_hits(tmp_path / "text.root"))


def test_a_truncated_hit_file_is_reported(tmp_path):
    path = simulate_to_files(LDMX_ECAL, "background", 400, [tmp_path / "b.root"], seed=5, progress=False)[0]
    data = path.read_bytes()
    (tmp_path / "cut.root").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match="truncated or corrupted"):
        for _ in iterate_hits(tmp_path / "cut.root", step_size=100):
            pass


def test_hit_images_put_each_hit_in_its_bins():
    x, y, z, e = (ak.Array(v) for v in ([[-200.0, 200.0], [], [0.0]], [[-200.0, 0.0], [], [0.0]],
                                        [[240.0, 530.0], [], [300.0]], [[1.0, 3.0], [], [0.0]]))
    images, kept = hit_images(x, y, z, e, "xyz", size=20)
    assert kept.tolist() == [True, False, False]  # no hits, and hits without energy: dropped
    image = images[0]
    assert image.max() == 1.0 and image[..., 0].sum() == pytest.approx(4 / 3)
    assert image[0, 0, 0] == pytest.approx(1 / 3) and image[19, 9,
                                                            0] == 1.0  # x-y projection; y = 0 is halfway: the lower bin
    assert image[9, 19, 1] == 1.0  # y-z: the z = 530 mm hit is in the last z bin, not clamped with the first
    assert image[0, 0, 1] == pytest.approx(1 / 3)
    split, _ = hit_images(x, y, z, e, "z_split", size=20, depth=5, log_depth=True)
    assert split.shape == (1, 20, 20, 5) and split[0, 0, 0, 0] == pytest.approx(1 / 3) and split[0, 19, 9, 4] == 1.0
    with pytest.raises(ParameterError):
        hit_images(x, y, z, e, "xy")


def test_best_threshold_minimises_misclassification():
    from analysis_lib.metrics import best_threshold

    cut = best_threshold([2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 2.5])
    assert cut.threshold == 2.0  # keeps all signal, lets 2.5 through: one mistake, the first such cut
    assert cut.accuracy == pytest.approx(6 / 7)
    assert cut.signal_acceptance == 1.0 and cut.background_rejection == pytest.approx(2 / 3)
    assert cut.purity == pytest.approx(4 / 5)


def test_a_cut_measured_on_other_events_loses_the_optimism_of_choosing_it_on_them():
    """Pure noise, 200 toys: the best cut of one half flatters itself on that half, and is at
    chance on the other half (``summary_at``), each judged against the toys' own spread."""
    from analysis_lib.metrics import best_threshold, summary_at

    chosen, judged = [], []
    for seed in range(200):
        signal, background = np.random.default_rng(seed).normal(size=(2, 400))
        cut = best_threshold(signal[::2], background[::2])
        chosen.append(cut.accuracy)
        judged.append(summary_at(signal[1::2], background[1::2], cut.threshold).accuracy)
    error = np.std(judged) / np.sqrt(len(judged))
    assert np.mean(chosen) - 0.5 > 5 * np.std(chosen) / np.sqrt(len(chosen))
    assert abs(np.mean(judged) - 0.5) < 3 * error
    exact = summary_at([2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 2.5], 2.0)
    assert vars(exact) == pytest.approx(vars(best_threshold([2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 2.5])))


def test_background_mass_hypotheses_come_from_the_training_masses():
    from analysis_lib.studies.ldmx import background_mass_hypotheses

    is_signal = np.array([True, False] * 500)
    masses = np.where(is_signal, 0.05, 0.0)
    hypotheses = background_mass_hypotheses(is_signal, masses, [0.001, 0.01, 0.1], seed=1)
    assert np.all(hypotheses[is_signal] == np.float32(0.05))
    assert set(np.unique(hypotheses[~is_signal])) == {np.float32(v) for v in (0.001, 0.01, 0.1)}


def test_convnets_have_the_original_shapes():
    from analysis_lib.studies.ldmx import dark_photon_convnet

    plain = dark_photon_convnet((20, 20, 3))
    assert plain.get_layer(index=-2).input.shape[-1] == 1600  # 5 x 5 x 64 before the 500-unit layer
    parameterised = dark_photon_convnet((20, 20, 3), mass_input=True)
    out = parameterised([np.zeros((2, 20, 20, 3), "float32"), np.array([[0.01], [1.0]], "float32")])
    assert out.shape == (2, 2)


def test_tables_round_trip_and_refuse_missing_columns(tmp_path):
    import pandas as pd

    from analysis_lib.io import load_table, save_table

    table = pd.DataFrame({"mass [MeV]": [1, 5], "AUC": [0.97, 0.96]})
    save_table(table, tmp_path / "t.csv")
    assert load_table(tmp_path / "t.csv", ("AUC",)).equals(table)
    with pytest.raises(DataFileError, match="no column 'network'"):
        load_table(tmp_path / "t.csv", ("network",))


def test_command_line_simulates_hits(tmp_path, capsys):
    from analysis_lib.cli import main

    assert main(["simulate", "ldmx-ecal", "--particle", "signal", "--mass", "0.01", "--events", "50",
                 "--out", str(tmp_path / "s.root"), "--quiet"]) == 0
    chunk = next(iterate_hits(tmp_path / "s.root", truth=("mass_mev",)))
    assert len(chunk["E"]) == 50 and np.all(chunk["mass_mev"].to_numpy() == 10.0)
    assert main(["simulate", "ldmx-ecal", "--particle", "muon", "--events", "5", "--out",
                 str(tmp_path / "m.root")]) == 2
    assert "choose one of signal, background" in capsys.readouterr().err


def test_the_named_trigger_agrees_with_the_simulations_own_selection():
    """Every simulated event passed the trigger; the same function on untriggered events
    (a real file's) rejects those with more than 1.5 GeV in the first 20 layers."""
    import awkward as ak

    from analysis_lib.detectors import LDMX_ECAL

    chunk = next(LDMX_ECAL.simulate("background", 300, seed=3))
    assert LDMX_ECAL.passes_trigger(chunk["z"], chunk["E"]).all()
    z_front = LDMX_ECAL.layer_z_mm[0]
    deposit_mev = 1000.0 * 2.0 * LDMX_ECAL.sampling_fraction[0]  # 2 GeV reconstructed in layer 0
    hot = LDMX_ECAL.passes_trigger(ak.Array([[z_front], [z_front]]), ak.Array([[deposit_mev], [deposit_mev / 4]]))
    assert hot.tolist() == [False, True]


def test_each_network_is_evaluated_at_each_mass_with_every_event_under_that_hypothesis():
    import keras

    from analysis_lib.studies.ldmx import evaluate_per_mass

    rng = np.random.default_rng(0)
    labels = np.repeat([1, 0], 200)
    masses = np.where(labels == 1, rng.choice([0.01, 0.1], labels.size), 0.0)
    images = (rng.random((labels.size, 4, 4, 1)) + labels[:, None, None, None]).astype(np.float32)

    def summing(inputs, flat):  # logits (-sum, +sum): brighter events more signal-like; the mass input is ignored
        dense = keras.layers.Dense(2, use_bias=False, trainable=False)
        logits = dense(flat)
        dense.set_weights([np.concatenate([np.tile([[-1.0, 1.0]], (16, 1)), np.zeros((flat.shape[1] - 16, 2))])])
        return keras.Model(inputs, logits)

    image = keras.Input((4, 4, 1))
    mass = keras.Input((1,))
    convnet = summing(image, keras.layers.Flatten()(image))
    parameterised = summing([image, mass], keras.layers.Concatenate()([keras.layers.Flatten()(image), mass]))
    table, curves = evaluate_per_mass(convnet, parameterised, images, masses, labels, np.arange(labels.size),
                                      [0.01, 0.1], trained_masses_gev=[0.01])
    assert len(table) == 4 and set(curves) == {(n, m) for n in table["network"] for m in (10, 100)}
    assert (table["AUC"] == 1.0).all() and (table["AUC error"] >= 0).all()
    # perfectly separated: every fraction at the best cut is 1, and its error is not 0 but the
    # Clopper-Pearson edge of all n of n passing, 1 - 0.1587^(1/n)
    for fraction in ("accuracy", "signal acceptance", "background rejection", "purity"):
        assert (table[fraction] == 1.0).all() and (table[f"{fraction} error"] > 0).all(), fraction
        assert (table[f"{fraction} error"] < 0.5).all(), fraction
    # the same events under both networks: the mass input's AUC gain and its paired error, on both rows
    assert (table["mass input's AUC gain"] == 0.0).all() and (table["mass input's AUC gain error"] >= 0).all()
    seen = table.set_index(["network", "mass [MeV]"])["seen in training"].xs("ConvNet")
    assert seen.to_dict() == {10: True, 100: False}


def test_an_unseen_mass_is_compared_with_its_trained_neighbours_and_judged_with_its_errors():
    from analysis_lib.metrics import tolerance_verdict
    from analysis_lib.studies.ldmx import unseen_mass_verdict

    def table(rows):  # (mass in MeV, seen in training, AUC, AUC error) for one network
        return pd.DataFrame([{"network": "ConvNet", "mass [MeV]": m, "seen in training": seen, "AUC": a,
                              "AUC error": e} for m, seen, a, e in rows])

    four = table([(1, True, 0.80, 0.003), (5, False, 0.85, 0.004), (10, True, 0.90, 0.003)])
    every = table([(1, True, 0.81, 0.003), (5, True, 0.86, 0.004), (10, True, 0.91, 0.003)])
    row = unseen_mass_verdict(four, every, tolerance=0.01).loc[("ConvNet", 5)]
    assert row["mean AUC at the neighbours"] == pytest.approx(0.85) and row["difference"] == pytest.approx(0.0)
    assert row["difference error"] == pytest.approx(np.hypot(0.004, 0.5 * np.hypot(0.003, 0.003)))
    assert row["cost of not training on it"] == pytest.approx(0.01) and row["against the tolerance"] == "within"
    assert tolerance_verdict(0.05, 0.01, 0.01) == "beyond" and tolerance_verdict(0.0, 0.02, 0.01) == "not resolved"
    with pytest.raises(EmptyDatasetError, match="no mass was left out"):
        unseen_mass_verdict(every, every, tolerance=0.01)
