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
    from analysis_lib.studies.lartpc import scaled_images

    images = np.zeros((2, 4, 3), np.float32)
    images[0, 1, 1], images[1, 2, 0] = 2.0, 0.5
    scaled = scaled_images(images)
    assert scaled.shape == (2, 4, 3, 1) and scaled.max(axis=(1, 2, 3)).tolist() == [1.0, 1.0]
    with pytest.raises(EmptyDatasetError, match="1 of 2 images are empty"):
        scaled_images(np.stack([images[0], np.zeros((4, 3), np.float32)]))


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
    from analysis_lib.studies.lartpc import scaled_images
    from analysis_lib.studies.lartpc import lartpc_cnn
    from analysis_lib.training import set_seed, train_classifier

    muons, electrons = (LARTPC.simulate_stream(p, 250, 5, 0) for p in ("muon", "electron"))
    images = scaled_images(np.concatenate([muons["layer_0"], electrons["layer_0"]]))
    labels = np.repeat([0, 1], 250)
    order = np.random.default_rng(0).permutation(500)
    train, test = order[:400], order[400:]
    set_seed(3)
    model = lartpc_cnn(images.shape[1:], n_classes=2, augment=False)
    train_classifier(model, images[train], labels[train], images[test], labels[test], epochs=4, batch_size=32,
                     schedule=((4, 1e-3),), patience=4, seed=3)
    accuracy = np.mean(model.predict(images[test], verbose=0).argmax(axis=1) == labels[test])
    assert accuracy > 0.85
