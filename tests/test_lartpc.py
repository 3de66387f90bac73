"""The LArIAT-like TPC simulation and its networks."""

import dataclasses

import numpy as np
import pytest

from analysis_lib.detectors import LARTPC
from analysis_lib.detectors.lartpc import CLASSES
from analysis_lib.errors import EmptyDatasetError, ParameterError


def _events(particle, n=150, momentum_gev=1.0, seed=2, **changes):
    tpc = dataclasses.replace(LARTPC, momentum_range_gev=(momentum_gev, momentum_gev), noise_mev=0.0,
                              coherent_noise_mev=0.0, **changes)
    return tpc.simulate_stream(particle, n, seed, 0)


def test_a_muon_is_a_minimum_ionising_track():
    events = _events("muon", diffusion_pixels=0.0)
    per_wire = events["layer_0"][:, 20:150].sum(axis=2)  # charge on each wire, well inside the image
    # 2.12 MeV/cm over a 4 mm wire pitch, a bit more for tracks not parallel to the wires
    assert np.median(per_wire[per_wire > 0]) == pytest.approx(0.848, rel=0.15)
    assert np.mean(events["extent_mm"] > 900) > 0.8  # 1 GeV/c muons cross the 96 cm of wires


def test_a_stopping_kaon_rises_to_a_bragg_peak():
    events = _events("kaon", momentum_gev=0.35, diffusion_pixels=0.0)
    per_wire = events["layer_0"].sum(axis=2)
    peak = per_wire.max(axis=1)
    assert np.median(peak) > 3 * 0.848  # dE/dx grows as 1/beta^2 near the end of the range
    assert np.median(events["extent_mm"]) < 900  # it stops (and its decay products may go further)


def test_photons_convert_after_a_gap_and_showers_hold_the_energy():
    def first_wire(events):
        charged = events["layer_0"].sum(axis=2) > 0.3
        return np.array([np.flatnonzero(row)[0] if row.any() else 240 for row in charged])

    electrons, photons, muons = _events("electron"), _events("photon"), _events("muon")
    assert np.median(first_wire(electrons)) <= 1
    # 9/7 X0 = 18 cm mean conversion length: 45 wires
    assert 20 < np.median(first_wire(photons)) < 70
    assert np.mean(electrons["charge_mev"]) > 2 * np.mean(muons["charge_mev"])


def test_every_class_simulates_and_bad_requests_are_refused():
    for name in CLASSES:
        events = _events(name, n=5)
        assert events["layer_0"].shape == (5, 240, 146) and np.all(events["label"] == CLASSES.index(name))
        assert np.all(events["layer_0"] >= 0)
    with pytest.raises(ParameterError, match="electron, kaon"):
        LARTPC.simulate("proton", 10)


def test_scaled_images_and_empty_images():
    from analysis_lib.studies.lartpc import charge_scaled_images, max_scaled_images

    images = np.zeros((2, 4, 3), np.float32)
    images[0, 1, 1], images[1, 2, 0] = 2.0, 0.5
    scaled = max_scaled_images(images)
    assert scaled.shape == (2, 4, 3, 1) and scaled.max(axis=(1, 2, 3)).tolist() == [1.0, 1.0]
    empty = np.stack([images[0], np.zeros((4, 3), np.float32)])
    with pytest.raises(EmptyDatasetError, match="1 of 2 images are empty"):
        max_scaled_images(empty)
    assert charge_scaled_images(empty, 0.85)[1].max() == 0  # a blank event is an event
    with pytest.raises(EmptyDatasetError, match="none of the 2 images holds any charge"):
        charge_scaled_images(np.zeros((2, 4, 3)), 0.85)
    with pytest.raises(ParameterError, match="mip_charge"):
        charge_scaled_images(images, 0.0)


def test_charge_scaling_keeps_de_dx_whatever_else_is_in_the_image():
    """Max scaling puts a MIP pixel at 1 in a muon's image and at 1/100 beside a shower;
    charge scaling puts it at 1 in both."""
    from analysis_lib.studies.lartpc import charge_scaled_images, max_scaled_images

    track, beside_shower = np.zeros((2, 5, 5), np.float32)
    track[2, :] = 0.85
    beside_shower[2, :] = 0.85
    beside_shower[4, 4] = 85.0
    charge = charge_scaled_images(np.stack([track, beside_shower]), mip_charge=0.85)[..., 0]
    assert charge[0, 2, 0] == charge[1, 2, 0] == pytest.approx(1.0) and charge[1, 4, 4] == pytest.approx(100.0)
    peak = max_scaled_images(np.stack([track, beside_shower]))[..., 0]
    assert peak[0, 2, 0] == pytest.approx(100 * peak[1, 2, 0])


def test_separating_quantities_on_drawn_tracks():
    """Known answers: a straight MIP track after a 10-wire gap, then one bending by 45 degrees."""
    from analysis_lib.studies.lartpc import separating_quantities

    images = np.zeros((2, 240, 146), np.float32)
    images[0, 10:200, 70] = 0.848  # 2.12 MeV/cm over 4 mm
    images[0, 100:103, 70] = 5 * 0.848  # a 1.2 cm hot spot
    wires = np.arange(0, 120)
    images[1, wires, 40] = 0.848
    bent = np.arange(120, 200)  # 45 degrees: one 4.2 mm tick every 4 mm wire, to within 5 %
    images[1, bent, 40 + np.round((bent - 119) * 4.0 / 4.2).astype(int)] = 0.848
    quantities = separating_quantities(images)
    straight, kinked = quantities.iloc[0], quantities.iloc[1]
    assert straight["gap_cm"] == pytest.approx(4.0) and kinked["gap_cm"] == 0.0
    assert straight["start_dedx_mev_per_cm"] == pytest.approx(2.12)
    assert straight["track_dedx_mev_per_cm"] == pytest.approx(2.12)
    assert straight["bragg_ratio"] == pytest.approx(5.0)
    assert straight["kink_deg"] == pytest.approx(0.0, abs=1e-6) and kinked["kink_deg"] == pytest.approx(45.0, abs=3.0)
    assert straight["clusters"] == 1 and kinked["clusters"] == 1  # 161 MeV and 170 MeV, each one group
    blank = separating_quantities(np.zeros((1, 240, 146)))
    assert blank["gap_cm"].isna().all() and blank["clusters"].tolist() == [0]


def test_what_separates_the_classes_is_in_the_simulation():
    """The physics a single collection plane offers: a photon's two MIPs at the start of its
    shower against an electron's one; a kaon's 1/beta^2 above a muon's; a pion that
    interacts inside 96 cm with probability 1 - exp(-96/84) = 0.68."""
    from analysis_lib.studies.lartpc import separating_quantities

    quantities = {name: separating_quantities(events["layer_0"]) for name, events in
                  (("electron", _events("electron", n=200)), ("photon", _events("photon", n=200)),
                   ("muon", _events("muon", n=200)), ("kaon", _events("kaon", n=200, momentum_gev=0.8)))}
    electron_start, photon_start = (quantities[n]["start_dedx_mev_per_cm"].median() for n in ("electron", "photon"))
    assert electron_start == pytest.approx(2.12 * 1.15, rel=0.15) and 1.6 < photon_start / electron_start < 2.3
    # exponential conversion length 18 cm: median 12.5 cm; electrons start at wire 0
    assert 9 < quantities["photon"]["gap_cm"].median() < 16 and (quantities["electron"]["gap_cm"] == 0).all()
    (muon_start, muon), (kaon_start, kaon) = (
        quantities[n][["start_dedx_mev_per_cm", "track_dedx_mev_per_cm"]].median() for n in ("muon", "kaon"))
    assert muon == pytest.approx(2.12, rel=0.1)
    assert kaon_start / muon_start == pytest.approx(1 + (0.494 / 0.8) ** 2, rel=0.1)  # 1/beta^2 = 1 + (m/p)^2
    assert kaon / muon > 1.1 * kaon_start / muon_start  # and it rises as the kaon slows down
    pions = _events("pion", n=400)
    assert np.mean(pions["pion_interactions"] == 0) == pytest.approx(np.exp(-96 / 84), abs=0.08)
    assert np.mean(_events("photon", n=200)["beam_conversions"] == 1) > 0.97  # 1 - exp(-96/18) = 0.995
    assert np.mean(_events("pion_zero", n=200)["beam_conversions"] == 2) > 0.8


def test_the_published_network_has_the_big_dense_head():
    from analysis_lib.studies.lartpc import lartpc_cnn, lartpc_original_cnn

    original = lartpc_original_cnn((240, 146, 1))
    # 28 x 16 x 64 = 28672 flattened features after three valid 3x3 convolutions and pools
    assert original.get_layer("conv_2") is not None and original.count_params() > 1_500_000
    assert lartpc_cnn((240, 146, 1)).count_params() < 100_000


def test_the_small_cnn_learns_tracks_from_showers():
    """Trained briefly on muons against electrons, the network must beat chance by far on
    held-out events. With batch normalisation it did not: 98 % on the training images,
    47-55 % held out on 4 of 5 seeds (the moving statistics lagged the batch statistics).

    Threshold: measured 0.94-1.00 over seeds 0-4, each with the default oneDNN kernels
    (AVX-512), ONEDNN_MAX_CPU_ISA=AVX2 and TF_ENABLE_ONEDNN_OPTS=0 (15 runs); one test
    event is 1 %, so 0.85 leaves 9 points below the worst run and stays far above 0.5."""
    from analysis_lib.studies.lartpc import lartpc_cnn, max_scaled_images
    from analysis_lib.training import set_seed, train_classifier

    muons, electrons = (LARTPC.simulate_stream(p, 250, 5, 0) for p in ("muon", "electron"))
    images = max_scaled_images(np.concatenate([muons["layer_0"], electrons["layer_0"]]))
    labels = np.repeat([0, 1], 250)
    order = np.random.default_rng(0).permutation(500)
    train, test = order[:400], order[400:]
    set_seed(3)
    model = lartpc_cnn(images.shape[1:], n_classes=2, augment=False)
    train_classifier(model, images[train], labels[train], images[test], labels[test], epochs=4, batch_size=32,
                     schedule=((4, 1e-3),), patience=4, seed=3)
    accuracy = np.mean(model.predict(images[test], verbose=0).argmax(axis=1) == labels[test])
    assert accuracy > 0.85


def test_the_noise_free_readout_sees_the_same_events_at_the_same_threshold():
    ideal = LARTPC.noise_free()
    assert ideal.threshold_mev == LARTPC.threshold_mev == pytest.approx(3 * np.hypot(0.03, 0.01))
    noisy, clean = LARTPC.simulate_stream("muon", 50, 8, 0), ideal.simulate_stream("muon", 50, 8, 0)
    assert np.array_equal(noisy["momentum_gev"], clean["momentum_gev"])  # the same events
    lit = clean["layer_0"] > 0
    assert np.all(clean["layer_0"][lit] > LARTPC.threshold_mev)
    # noise above threshold adds charge to every event: 35 040 pixels x 0.13 % above 3 sigma
    # x about 0.11 MeV each is 5 MeV, against about 270 MeV of track
    assert 2.0 < np.median(noisy["charge_mev"] - clean["charge_mev"]) < 10.0
    assert np.mean(noisy["layer_0"] > 0) > np.mean(lit)  # noise above threshold adds pixels
