"""The LArTPC particle-identification study: six particle classes in single
collection-plane images, what separates them, a CNN, the original study's network and
its overfitting.

Contents: the samples ``lartpc_images`` (and ``SCALINGS``), ``lartpc_truth``, ``max_scaled_images``,
``charge_scaled_images``; what separates the classes: ``separating_quantities``
(``QUANTITY_LABELS``); the networks ``BATCH_NORM_MOMENTUM``, ``lartpc_original_cnn``,
``lartpc_cnn``; the original's numbers: ``PUBLISHED_ACCURACY``.

Which input scaling: the original divided each image by its own maximum
(``max_scaled_images``), which throws away the charge per centimetre, and with it
dE/dx: a kaon's 1.1-7 MIPs against a muon's 1.0, a photon's two MIPs at the start of its
shower against an electron's one. ``charge_scaled_images`` keeps it (charge in MIPs);
use it unless reproducing the original. (A log of the charge did as well, 77.5 against
78.3 % test accuracy on one seed, with a larger train-test gap, 2.6 against -0.2 points.)
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ..detectors.lartpc import CLASSES, LARTPC
from ..errors import EmptyDatasetError, ParameterError
from ..io import read_showers
from ..tensorflow_startup import keras_and_layers


# -- the samples -----------------------------------------------------------------------
def lartpc_images(data_dir, classes=None, negative_cells="keep", scaling="charge", mip_charge=None):
    """The LArTPC study's images, one HDF5 file per class (``<class>.h5``, a single layer
    of wires x ticks), scaled (``scaling``: "charge", ``charge_scaled_images`` with
    ``mip_charge``, by default the simulation's MIP per wire in MeV; or "maximum",
    ``max_scaled_images``) with a channel axis, and the class labels (the class's index
    in ``lartpc.CLASSES``, from the file name, so a file needs no label array):
    (images, labels)."""
    if scaling not in SCALINGS:
        raise ParameterError(f"scaling must be one of {', '.join(SCALINGS)}, not {scaling!r}")
    names = classes or CLASSES
    layers, labels = [], []
    for name in names:
        layer = read_showers(Path(data_dir) / f"{name}.h5", detector=LARTPC, negative_cells=negative_cells).layers[0]
        layers.append(layer.astype(np.float32, copy=False))
        labels.append(np.full(len(layer), CLASSES.index(name)))
    raw = np.concatenate(layers)
    del layers  # scaled in place below: one copy of the images at a time (4 GiB in the full profile)
    images = (max_scaled_images(raw, copy=False) if scaling == "maximum" else
              charge_scaled_images(raw, LARTPC.mip_mev_per_wire if mip_charge is None else mip_charge, copy=False))
    return images, np.concatenate(labels)


#: The input scalings ``lartpc_images`` knows.
SCALINGS = ("charge", "maximum")


def lartpc_truth(data_dir, classes=None):
    """The per-event truth of the files ``lartpc_images`` reads, in the same order, as a
    DataFrame: the one-dimensional arrays every file holds besides the image (none for
    a file that carries only images). Read with h5py, without the images."""
    import h5py

    frames = []
    for name in classes or CLASSES:
        with h5py.File(Path(data_dir) / f"{name}.h5", "r") as f:
            arrays = [f[key] for key in f if isinstance(f[key], h5py.Dataset) and f[key].ndim >= 1]
            events = pd.RangeIndex(len(arrays[0]) if arrays else 0)  # a row per event, columns or not
            frames.append(pd.DataFrame({a.name.lstrip("/"): np.asarray(a) for a in arrays if a.ndim == 1},
                                       index=events))
    common = sorted(set.intersection(*(set(frame.columns) for frame in frames)))
    return pd.concat([frame[common] for frame in frames], ignore_index=True)


# -- the images ------------------------------------------------------------------------
def charge_scaled_images(images, mip_charge, copy=True):
    """(events, H, W) charges in MIPs, q / q_MIP, with a channel axis, float32: a MIP
    track's pixel is 1 whatever else the event holds, so dE/dx survives. ``mip_charge``
    is q_MIP in the file's units (for the simulation, 0.85 MeV per 4 mm wire). A blank
    image is an event too (a photon that crossed without converting, read out without
    noise); only a sample without any charge is refused. ``copy=False`` divides a float32
    array in place."""
    if not mip_charge > 0:
        raise ParameterError(f"mip_charge must be a positive charge, not {mip_charge!r}")
    images = np.array(images, dtype=np.float32, copy=copy or None)
    if images.size == 0 or not images.max() > 0:
        raise EmptyDatasetError(f"none of the {len(images)} images holds any charge")
    images /= np.float32(mip_charge)
    return images[..., None]


def max_scaled_images(images, copy=True):
    """(events, H, W) images divided by their own maximum, with a channel axis, float32
    (``copy=False``: a float32 array in place). (The original added 0.1 after min-max
    scaling and then clipped noisy copies at 1, cutting off the brightest pixels; plain
    max scaling keeps them.)"""
    images = np.array(images, dtype=np.float32, copy=copy or None)
    peak = images.reshape(len(images), -1).max(axis=1) if len(images) else np.zeros(0)
    if len(images) == 0 or (peak <= 0).any():
        raise EmptyDatasetError(f"{int((peak <= 0).sum()) if len(images) else 0} of {len(images)} images are empty")
    images /= peak[:, None, None]
    return images[..., None]


# -- what separates the classes --------------------------------------------------------
#: What ``separating_quantities`` measures, with units, for axes and tables.
QUANTITY_LABELS = {"gap_cm": "gap before the first charge [cm]",
                   "start_dedx_mev_per_cm": "dE/dx over its first 2 cm [MeV/cm]",
                   "track_dedx_mev_per_cm": "truncated-mean dE/dx [MeV/cm]",
                   "bragg_ratio": "hottest 1.2 cm / truncated mean",
                   "kink_deg": "largest change of direction [deg]",
                   "clusters": "separate deposits above 10 MeV"}
LIT_WIRE_MEV = 0.5  # 0.6 MIP on a wire; zero-suppressed noise leaves about 0.02 MeV a wire
CLUSTER_MEV = 10.0


def separating_quantities(images, detector=None, unit_mev=1.0):
    """What a physicist would separate the six classes with, measured on collection-plane
    images (events, wires, ticks; the beam enters at wire 0) whose pixels are in units
    of ``unit_mev`` MeV (1 for the simulation's files; ``detector.mip_mev_per_wire`` for
    charge-scaled images): a DataFrame, one row per event, columns as in ``QUANTITY_LABELS``.

    A wire is lit when it holds more than 0.5 MeV; the event starts at the first of two
    lit wires in a row.

    * ``gap_cm``: that start's distance from wire 0: a photon converts after
      9/7 X0 = 18 cm on average, charged particles start at once;
    * ``start_dedx_mev_per_cm``: median charge on its first five wires (2 cm) over the
      pitch: one MIP (2.1 MeV/cm) for an electron, two for a photon's e+e- pair;
    * ``track_dedx_mev_per_cm``: mean of the lowest 60 % of the lit wires' charges (the
      truncation drops delta rays and the Landau tail): 2.1 / beta^2 MeV/cm for a track,
      so a kaon lies above a muon of the same momentum;
    * ``bragg_ratio``: the hottest three consecutive wires against that truncated mean: a
      stopping kaon's or proton's Bragg peak;
    * ``kink_deg``: the largest change of direction between consecutive 4 cm pieces of
      the track (a line through each wire's hottest time bin): a pion's hadronic
      interaction, a kaon's decay;
    * ``clusters``: groups of touching pixels holding more than 10 MeV each: a π0's two
      showers, an electron shower's converted bremsstrahlung.

    A blank event has NaN everywhere but ``clusters`` (0)."""
    from scipy import ndimage

    detector = detector or LARTPC
    pitch_cm = detector.wire_pitch_mm / 10
    rows = []
    for image in images:  # one event at a time in float64: never a second copy of them all
        image = np.asarray(image, dtype=np.float64) * unit_mev
        row = dict.fromkeys(QUANTITY_LABELS, np.nan)
        charge = image.sum(axis=1)  # per wire
        lit = charge > LIT_WIRE_MEV
        starts = np.flatnonzero(lit[:-1] & lit[1:])
        if starts.size:
            first = starts[0]
            wires = first + np.flatnonzero(lit[first:])
            lowest = np.sort(charge[wires])[: max(1, int(0.6 * wires.size))]
            row.update(gap_cm=first * pitch_cm, start_dedx_mev_per_cm=np.median(charge[first:first + 5]) / pitch_cm,
                       track_dedx_mev_per_cm=lowest.mean() / pitch_cm,
                       bragg_ratio=np.convolve(charge, np.ones(3) / 3, "valid").max() / lowest.mean(),
                       kink_deg=_largest_kink_deg(wires, image[wires].argmax(axis=1), detector))
        labelled, n = ndimage.label(image > 0, structure=np.ones((3, 3)))
        row["clusters"] = int((ndimage.sum_labels(image, labelled, np.arange(1, n + 1)) > CLUSTER_MEV).sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=list(QUANTITY_LABELS))


def _largest_kink_deg(wires, peak_ticks, detector, piece_wires=10):
    """Angles of straight lines through (wire, hottest tick) on consecutive pieces of
    ``piece_wires`` wires (each with at least 6 lit ones); their largest difference."""
    angles = []
    for start in range(wires[0], wires[-1] + 1, piece_wires):
        inside = (wires >= start) & (wires < start + piece_wires)
        if inside.sum() >= 6:
            slope = np.polyfit(wires[inside] * detector.wire_pitch_mm, peak_ticks[inside] * detector.tick_mm, 1)[0]
            angles.append(np.degrees(np.arctan(slope)))
    return float(np.abs(np.diff(angles)).max()) if len(angles) > 1 else 0.0


# -- the networks ----------------------------------------------------------------------
#: Keras's default 0.99 needs thousands of steps before the moving variance forgets its
#: initial 1; with a few hundred steps on images of mean ~0.01, inference would then see
#: activations shrunk twentyfold and predict one class for everything.
BATCH_NORM_MOMENTUM = 0.9


def lartpc_original_cnn(input_shape, n_classes=6):
    """The published LArIAT network: three blocks of 3x3 convolutions (16, 32, 64) with ReLU,
    batch normalisation and 2x2 max pooling, then dense 64 and 32 (L2 1e-3, small normal
    initialisation, dropout 0.5 each) and one output per class (logits: the softmax is
    in the loss, as ``training.train_classifier`` uses it)."""
    keras, layers = keras_and_layers()

    dense = dict(activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3),
                 kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
    x = image = keras.Input(input_shape, name="image")
    for i, width in enumerate((16, 32, 64)):
        x = layers.Conv2D(width, 3, activation="relu", name=f"conv_{i}")(x)
        x = layers.MaxPooling2D(2)(layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x))
    x = layers.Dropout(0.5)(layers.Dense(64, **dense)(layers.Flatten()(x)))
    x = layers.Dropout(0.5)(layers.Dense(32, **dense)(x))
    return keras.Model(image, layers.Dense(n_classes, name="classes")(x), name="original_cnn")


def lartpc_cnn(input_shape, n_classes=6, widths=(16, 32, 64, 64), augment=True, dropout=0.3):
    """A smaller-headed network: 2x2 average pooling first (8 mm pixels still resolve
    tracks), four convolution blocks, global average pooling instead of a 2-million-weight
    dense layer, and (training only) random flips of the drift axis and shifts in time.

    Group normalisation (8 groups) instead of batch normalisation: it normalises each
    image by itself, so training and inference compute the same thing. With batch
    normalisation, a few hundred steps left the moving statistics far from the batch
    statistics the network had learnt with: muons against electrons reached 98 % on the
    training images and 47-55 % (one class for everything) on held-out ones, on 4 of 5
    seeds; with group normalisation 94-100 % on all 5."""
    keras, layers = keras_and_layers()

    x = image = keras.Input(input_shape, name="image")
    if augment:
        x = layers.RandomFlip("horizontal")(x)  # axis 1 = time: drift up or down is symmetric
        x = layers.RandomTranslation(0.0, 0.1, fill_mode="constant")(x)
    x = layers.AveragePooling2D(2)(x)
    for i, width in enumerate(widths):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        x = layers.GroupNormalization(groups=8)(x)
        if i < len(widths) - 1:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(dropout)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(image, layers.Dense(n_classes, name="classes")(x), name="lartpc_cnn")


# -- the original's numbers ------------------------------------------------------------
#: Test accuracies in the original study's README (six classes, LArIAT collection-plane
#: images): its first network, which overfit, and its regularised one.
PUBLISHED_ACCURACY = {"published network, as published (overfit)": 0.75, "regularised network, as published": 0.64}
