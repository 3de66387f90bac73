"""The shashlik study: position and energy of one or two photons in a COMPASS
ECAL2-like shashlik calorimeter, from neural networks; the Lednev shower fit they are
measured against is ``studies.lednev``.

Contents: the truth: ``PHOTON_TRUTH``, ``photon_truth``; the clusters: ``cell_clusters``,
``cluster_cell_offsets``, ``cluster_inputs``, ``photon_targets``, ``photons_from_targets``,
``region_images``; the networks: ``cluster_regressor``, ``lednev_refiner``, ``region_cnn``
(the loss is ``models.PermutationInvariantLoss``); the original's numbers:
``PUBLISHED_RESOLUTION``.
"""


import numpy as np

from ..errors import DataFileError, EmptyDatasetError
from ..features import bin_centres, cell_window
from ..tensorflow_startup import keras_and_layers


# -- the truth a file must carry --------------------------------------------------------
#: The photons' true x, y (mm, on the calorimeter face) and energy (GeV), in this order.
PHOTON_TRUTH = ("photon_x_mm", "photon_y_mm", "photon_energy_gev")


def photon_truth(sample, n_photons):
    """(events, photons, [x mm, y mm, E GeV]) from a sample's truth. Each of
    ``PHOTON_TRUTH`` is one column per photon, (N, n_photons), or for one photon also
    one value per event, (N,), the layout a file of single photons naturally has."""
    columns = []
    for name in PHOTON_TRUTH:
        if name not in sample.truth:
            raise DataFileError(f"{sample.path} has no truth {name!r}: the shashlik chapters need "
                                f"{', '.join(PHOTON_TRUTH)} per event")
        stored = np.asarray(sample.truth[name], dtype=float)
        values = stored[:, None] if stored.ndim == 1 else stored
        if values.ndim != 2 or values.shape[1] != n_photons:
            raise DataFileError(f"{name} in {sample.path} has shape {stored.shape}, expected "
                                f"({len(values)}, {n_photons}): one column per photon" +
                                (" or one value per event" if n_photons == 1 else ""))
        columns.append(values)
    return np.stack(columns, axis=-1)


# -- clusters of the shashlik calorimeter ----------------------------------------------
def cell_clusters(image, layer, size):
    """``size`` x ``size`` windows of (events, n_y, n_x) images centred on each event's
    hottest cell (zero outside the region), with the centre cell's (x, y) in mm.

    Returns (clusters (events, size, size), centre_x_mm, centre_y_mm).
    """
    if len(image) == 0:
        raise EmptyDatasetError("cannot cut clusters from an empty sample")
    half = size // 2
    flat = image.reshape(len(image), -1).argmax(axis=1)
    iy, ix = np.unravel_index(flat, image.shape[1:])
    clusters = cell_window(image, iy, ix, half, half)
    return clusters, bin_centres(layer.x_edges_mm)[ix], bin_centres(layer.y_edges_mm)[iy]


def cluster_cell_offsets(size, cell_mm):
    """(x, y) centres in mm of the cells of a ``size`` x ``size`` cluster, relative to its centre cell."""
    offsets = (np.arange(size) - size // 2) * cell_mm
    x, y = np.meshgrid(offsets, offsets)
    return x, y


def cluster_inputs(clusters, centre_x_mm, centre_y_mm, absolute=True):
    """Network inputs of (clusters, size, size) cell energies in GeV: the cells over their
    sum, ln(sum / GeV) / 5 and, with ``absolute``, the centre cell's position in metres
    (from which the photon's inclination follows). Fixed scales, no fitted normalisation."""
    clusters = np.asarray(clusters, dtype=float)
    total = clusters.sum(axis=(1, 2))
    if (total <= 0).any():
        raise EmptyDatasetError(f"{int((total <= 0).sum())} clusters hold no energy")
    features = [clusters.reshape(len(clusters), -1) / total[:, None], np.log(total)[:, None] / 5.0]
    if absolute:
        features.append(np.column_stack([centre_x_mm, centre_y_mm]) / 1000.0)
    return np.hstack(features).astype(np.float32)


def photon_targets(photons, cluster_sum_gev, position_limit_mm=None):
    """Photons (clusters, photons, [x_mm, y_mm, E_gev]) as regression targets
    (clusters, 3 photons): x / 10 mm, y / 10 mm, ln(E / cluster sum), numbers of order
    one whose differences are the position error in cm and the relative energy error.
    ``position_limit_mm`` clips positions (a failed fit can run far off)."""
    photons = np.asarray(photons, dtype=float)
    xy = photons[..., :2]
    if position_limit_mm is not None:
        xy = np.clip(xy, -position_limit_mm, position_limit_mm)
    fraction = np.clip(photons[..., 2] / np.asarray(cluster_sum_gev, float)[:, None], 1e-3, 10.0)
    targets = np.concatenate([xy / 10.0, np.log(fraction)[..., None]], axis=-1)
    return targets.reshape(len(photons), -1).astype(np.float32)


def photons_from_targets(targets, cluster_sum_gev):
    """Inverse of ``photon_targets``: (clusters, photons, [x_mm, y_mm, E_gev])."""
    t = np.asarray(targets, dtype=float).reshape(len(targets), -1, 3)
    return np.stack([t[..., 0] * 10.0, t[..., 1] * 10.0,
                     np.exp(t[..., 2]) * np.asarray(cluster_sum_gev, float)[:, None]], axis=-1)


def region_images(image_gev, layer):
    """Whole-region inputs for a CNN, (events, n_y, n_x, 3): cell energies over the event's
    total, and each cell's x and y offset from the event's hottest cell in units of ten
    cells, as two channels ("CoordConv"), so that convolutions can tell where they are.

    Offsets from the hottest cell, not absolute positions: the targets are then the
    photons' offsets from that cell (as the cluster networks'), numbers of a few cm
    instead of a 1 mm answer across 2 m, which pooling layers cannot give (26 mm for
    absolute targets, against 14 mm for these, on the book's sample after 6 epochs).
    """
    image_gev = np.asarray(image_gev, dtype=float)
    total = image_gev.sum(axis=(1, 2))
    if (total <= 0).any():
        raise EmptyDatasetError(f"{int((total <= 0).sum())} events hold no energy")
    hottest_y, hottest_x = np.unravel_index(image_gev.reshape(len(image_gev), -1).argmax(axis=1), image_gev.shape[1:])
    x = bin_centres(layer.x_edges_mm)[None, None, :] - bin_centres(layer.x_edges_mm)[hottest_x][:, None, None]
    y = bin_centres(layer.y_edges_mm)[None, :, None] - bin_centres(layer.y_edges_mm)[hottest_y][:, None, None]
    scale = 10 * layer.cell_mm
    coordinates = [np.broadcast_to(c / scale, image_gev.shape) for c in (x, y)]
    return np.stack([image_gev / total[:, None, None], *coordinates], axis=-1).astype(np.float32)


# -- the networks ----------------------------------------------------------------------
def cluster_regressor(n_inputs, n_outputs, hidden=(256, 128, 64), name="cluster_regressor"):
    """Multilayer perceptron from a flattened cluster (plus extra inputs) to the photons'
    (x, y, E) targets, linear outputs."""
    keras, layers = keras_and_layers()
    x = inputs = keras.Input((n_inputs,), name="cluster")
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(n_outputs, name="targets")(x), name=name)


def lednev_refiner(n_cluster_inputs, n_photons, hidden=(256, 128, 64), name="lednev_refiner"):
    """A network that starts from the Lednev fit and learns its corrections:

    output = fit + MLP(cluster inputs, fit),

    with the last layer initialised at zero, so training begins at the fit's own
    resolution and only moves where the data say the shower function is wrong
    (leakage, inclination, overlapping showers)."""
    keras, layers = keras_and_layers()
    cluster = keras.Input((n_cluster_inputs,), name="cluster")
    fit = keras.Input((3 * n_photons,), name="lednev_fit")
    x = layers.Concatenate()([cluster, fit])
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
    correction = layers.Dense(3 * n_photons, kernel_initializer="zeros", name="correction")(x)
    return keras.Model([cluster, fit], layers.Add(name="targets")([fit, correction]), name=name)


def region_cnn(shape, n_photons, filters=(16, 32, 32), dense=(128, 64), name="region_cnn"):
    """ConvNet from the whole calorimeter region (``region_images``), with the total
    energy, to the photons' (x, y, E) targets measured from the hottest cell: no
    cluster is cut, the network sees every cell."""
    keras, layers = keras_and_layers()
    image = keras.Input(shape, name="region")
    total = keras.Input((1,), name="log_energy")
    x = image
    for i, width in enumerate(filters):
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        if i < len(filters) - 1:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Concatenate()([layers.Flatten()(x), total])
    for width in dense:
        x = layers.Dense(width, activation="relu")(x)
    return keras.Model([image, total], layers.Dense(3 * n_photons, name="targets")(x), name=name)


# -- the original's numbers ------------------------------------------------------------
#: The original study's region CNN on two photons (COMPASS ECAL2 shashlik clusters, its
#: README): sigma_x, sigma_y in mm and sigma_E/E in %; its aim was 2.5 mm and 2.5 %.
PUBLISHED_RESOLUTION = {"sigma_x [mm]": 4.2, "sigma_y [mm]": 3.3, "sigma_E/E [%]": 3.5}
