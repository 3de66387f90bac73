"""Per-event quantities computed from calorimeter images and from the truth record.

Everything is vectorised over events: arrays in, arrays out.
"""

import numpy as np

from .errors import EmptyDatasetError, ParameterError


def _centres(edges):
    return 0.5 * (edges[1:] + edges[:-1])


def hottest_cell_angles(image, layer):
    """(phi, eta) in rad of the hottest cell of each event's image (events, n_phi, n_eta)."""
    flat = image.reshape(len(image), -1).argmax(axis=1)
    i_phi, i_eta = np.unravel_index(flat, layer.shape)
    return _centres(layer.phi_edges_rad)[i_phi], _centres(layer.eta_edges_rad)[i_eta]


def cluster_energy_gev(sample, detector, half_width_rad=0.0875, seed_layer=2):
    """Energy (GeV) in a square window of +-``half_width_rad`` around the hottest cell
    of the ``seed_layer`` (default: middle), summed over all layers.

    The default window is 7 x 7 middle cells, about +-3 Moliere radii at the
    front face: it keeps the shower and leaves out most of the noise of the
    960 cells.
    """
    if len(sample) == 0:
        raise EmptyDatasetError("cannot build clusters from an empty sample")
    phi0, eta0 = hottest_cell_angles(sample.layers[seed_layer], detector.layers[seed_layer])
    total = np.zeros(len(sample))
    for image, layer in zip(sample.layers, detector.layers):
        in_phi = np.abs(_centres(layer.phi_edges_rad)[None, :] - phi0[:, None]) <= half_width_rad + 1e-9
        in_eta = np.abs(_centres(layer.eta_edges_rad)[None, :] - eta0[:, None]) <= half_width_rad + 1e-9
        total += np.einsum("npe,np,ne->n", image.astype(np.float64), in_phi, in_eta)
    return total / 1000.0


def photon_pair_separations(truth):
    """Angular distances (rad) between all pairs of final-state photons: (events, pairs)."""
    tx, ty = truth["photon_theta_x_rad"], truth["photon_theta_y_rad"]
    i, j = np.triu_indices(tx.shape[1], k=1)
    return np.hypot(tx[:, i] - tx[:, j], ty[:, i] - ty[:, j])


def energy_weighted_rms_angle(truth):
    """sqrt(sum_i E_i |theta_i - theta_bar|^2 / sum_i E_i) of the photons about their
    energy-weighted centre (rad). For any decay of a mass m at energy E this is m/E
    in the small-angle limit."""
    e = truth["photon_energy_gev"]
    tx, ty = truth["photon_theta_x_rad"], truth["photon_theta_y_rad"]
    w = e / e.sum(axis=1, keepdims=True)
    cx, cy = (w * tx).sum(1, keepdims=True), (w * ty).sum(1, keepdims=True)
    return np.sqrt((w * ((tx - cx) ** 2 + (ty - cy) ** 2)).sum(axis=1))


# -- shower shapes of the photon-jet BDT ------------------------------------------
#: The nine BDT variables, in the original study's order (names as in its ntuples).
SHOWER_SHAPES = ("f1", "w_s3", "w_stot", "f_side", "delta_e_s", "e_ratio", "r_eta", "r_phi", "w_eta2")
SHOWER_SHAPE_LABELS = {
    "f1": "f1 (strip energy fraction)", "w_s3": "w_s3 [strips]", "w_stot": "w_stot [strips]",
    "f_side": "f_side", "delta_e_s": "Delta E_s [GeV]", "e_ratio": "E_ratio", "r_eta": "R_eta",
    "r_phi": "R_phi", "w_eta2": "w_eta2 [rad]",
}


def _window(images, i, j, half_i, half_j):
    """(events, 2 half_i + 1, 2 half_j + 1) windows of ``images`` centred on (i, j); zero outside."""
    n, rows, cols = images.shape
    padded = np.pad(images, ((0, 0), (half_i, half_i), (half_j, half_j)))
    di = np.arange(-half_i, half_i + 1)
    dj = np.arange(-half_j, half_j + 1)
    return padded[np.arange(n)[:, None, None], (i + half_i)[:, None, None] + di[None, :, None],
                  (j + half_j)[:, None, None] + dj[None, None, :]]


def strip_profile(strips):
    """Strip energies along eta (events, n_eta), summed over the hottest phi row and
    its hotter neighbour: ATLAS merges two phi cells of the strip layer."""
    rows = strips.sum(axis=2)
    n_rows = rows.shape[1]
    best = rows.argmax(axis=1)
    up, down = np.minimum(best + 1, n_rows - 1), np.maximum(best - 1, 0)
    events = np.arange(len(strips))
    neighbour = np.where(rows[events, up] * (up != best) >= rows[events, down] * (down != best), up, down)
    return strips[events, best] + np.where((neighbour != best)[:, None], strips[events, neighbour], 0.0)


def _width(profile, centre, half):
    """sqrt(sum E_i (i - centre)^2 / sum E_i) over strips centre +- half (strip units)."""
    window = _window(profile[:, None, :], np.zeros(len(profile), int), centre, 0, half)[:, 0, :]
    offsets = np.arange(-half, half + 1)
    total = window.sum(axis=1)
    # negative (noise-subtracted) strips can make the weighted variance negative: width 0
    return np.sqrt(np.clip((window * offsets**2).sum(axis=1) / np.where(total > 0, total, 1.0), 0.0, None))


def strip_maxima(profile, search_half=20):
    """(i_max, E_max1, E_max2, E_min) of each strip profile.

    E_max2 is the highest *local* maximum more than one strip away from the first
    within +-``search_half`` strips (the ATLAS definition; the original study took
    the second-highest strip, usually the first maximum's neighbour); E_min the
    lowest strip between the two maxima. Without a second maximum E_max2 = E_min = 0.
    """
    n, n_eta = profile.shape
    events = np.arange(n)
    i_max = profile.argmax(axis=1)
    e_max1 = profile[events, i_max]
    padded = np.pad(profile, ((0, 0), (1, 1)))
    local = (profile > padded[:, :-2]) & (profile >= padded[:, 2:]) & (profile > 0)
    index = np.arange(n_eta)[None, :]
    distance = np.abs(index - i_max[:, None])
    candidates = np.where(local & (distance > 1) & (distance <= search_half), profile, -np.inf)
    i_max2 = candidates.argmax(axis=1)
    has_second = np.isfinite(candidates[events, i_max2])
    e_max2 = np.where(has_second, profile[events, i_max2], 0.0)
    lo, hi = np.minimum(i_max, i_max2), np.maximum(i_max, i_max2)
    between = np.where((index >= lo[:, None]) & (index <= hi[:, None]), profile, np.inf)
    e_min = np.where(has_second, between.min(axis=1), 0.0)
    return i_max, e_max1, e_max2, e_min


def shower_shapes(sample, detector):
    """The nine BDT variables of every event, as a dict of arrays (energies in GeV).

    f1      strip energy / total energy
    w_s3    energy-weighted width of the strip profile over i_max +- 1 (strips)
    w_stot  the same over i_max +- 9
    f_side  (E(+-3 strips) - E(+-1)) / E(+-1)
    e_ratio (E_max1 - E_max2) / (E_max1 + E_max2), see ``strip_maxima``
    delta_e_s  E_max2 - E_min
    r_eta   E(3 eta x 7 phi) / E(7 x 7) middle cells around the hottest
    r_phi   E(3 eta x 3 phi) / E(3 eta x 7 phi)
    w_eta2  energy-weighted eta width (rad) of the 3 eta x 5 phi middle cells

    Negative cells (noise-subtracted read-outs) enter every sum as they are; a ratio
    with a denominator <= 0 is 0, and a width whose weighted variance is negative is 0.
    """
    if len(sample) == 0:
        raise EmptyDatasetError("cannot compute shower shapes of an empty sample")
    strips = sample.layers[detector.layer_index("strips")].astype(np.float64) / 1000.0
    middle = sample.layers[detector.layer_index("middle")].astype(np.float64) / 1000.0
    total = sample.total_energy_gev()
    profile = strip_profile(strips)
    i_max, e_max1, e_max2, e_min = strip_maxima(profile)
    rows0 = np.zeros(len(profile), int)
    core = _window(profile[:, None, :], rows0, i_max, 0, 1)[:, 0].sum(axis=1)
    side = _window(profile[:, None, :], rows0, i_max, 0, 3)[:, 0].sum(axis=1)

    flat = middle.reshape(len(middle), -1).argmax(axis=1)
    i_phi, i_eta = np.unravel_index(flat, middle.shape[1:])
    e77 = _window(middle, i_phi, i_eta, 3, 3).sum(axis=(1, 2))
    e37 = _window(middle, i_phi, i_eta, 3, 1).sum(axis=(1, 2))  # 7 phi x 3 eta
    e33 = _window(middle, i_phi, i_eta, 1, 1).sum(axis=(1, 2))
    w35 = _window(middle, i_phi, i_eta, 2, 1)  # 5 phi x 3 eta
    eta_pitch = detector.layer_named("middle").cell_size_rad[1]
    eta = np.arange(-1, 2)[None, None, :] * eta_pitch
    w_sum = w35.sum(axis=(1, 2))
    mean_eta = (w35 * eta).sum(axis=(1, 2)) / np.maximum(w_sum, 1e-12)
    var_eta = (w35 * eta**2).sum(axis=(1, 2)) / np.maximum(w_sum, 1e-12) - mean_eta**2

    def ratio(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)

    return {
        "f1": ratio(strips.sum(axis=(1, 2)), total),
        "w_s3": _width(profile, i_max, 1),
        "w_stot": _width(profile, i_max, 9),
        "f_side": ratio(side - core, core),
        "delta_e_s": e_max2 - e_min,
        "e_ratio": ratio(e_max1 - e_max2, e_max1 + e_max2),
        "r_eta": ratio(e37, e77),
        "r_phi": ratio(e33, e37),
        "w_eta2": np.sqrt(np.clip(var_eta, 0.0, None)),
    }


def physics_variables(sample, detector):
    """Event-level quantities to compare with a network's latent space (GeV, rad):
    total and presampler energy, the energy-weighted mean layer index and its
    second moment, and the energy-weighted second moments of the middle layer."""
    layer_e = sample.layer_energy_gev()
    total = layer_e.sum(axis=1)
    index = np.arange(layer_e.shape[1])[None, :]
    middle = sample.layers[detector.layer_index("middle")].astype(np.float64) / 1000.0
    layer = detector.layer_named("middle")
    phi = _centres(layer.phi_edges_rad)[None, :, None]
    eta = _centres(layer.eta_edges_rad)[None, None, :]
    e2 = np.maximum(middle.sum(axis=(1, 2)), 1e-12)

    def second_moment(coordinate):
        mean = (middle * coordinate).sum(axis=(1, 2)) / e2
        return (middle * coordinate**2).sum(axis=(1, 2)) / e2 - mean**2

    return {
        "total_e": total,
        "presampler_e": layer_e[:, 0],
        "depth_weighted_e": (layer_e * index).sum(axis=1) / np.maximum(total, 1e-12),
        "depth_weighted_e2": (layer_e * index**2).sum(axis=1) / np.maximum(total, 1e-12),
        "middle_phi2": second_moment(phi),
        "middle_eta2": second_moment(eta),
    }


def log_scaled_images(sample, dynamic_range=1e4):
    """Layer images for a network: each cell as sign(E) log(1 + r |E|/E_total) / log(1 + r),
    r = ``dynamic_range``, shape (events, phi, eta, 1) float32, in [-1, 1].

    On a linear scale the cells far from the core, 1e-4 of the event's energy, are
    invisible next to the core; yet they carry the widths (w_stot, f_side) that make
    a BDT on shower shapes strong. The log keeps four decades in view. The signed form
    passes the negative cells of noise-subtracted read-outs through as the mirror image
    of positive ones (a simulation without them gives the same images as a plain log).
    """
    total = np.maximum(sample.total_energy_gev()[:, None, None] * 1000.0, 1e-9)
    scale = np.log1p(dynamic_range)
    return [(np.sign(layer) * np.log1p(dynamic_range * np.abs(layer) / total) / scale)[..., None].astype(np.float32)
            for layer in sample.layers]


# -- point clouds for the Particle Flow Network --------------------------------------
#: Per point: phi and eta offsets from its layer's energy centre in units of the layer's cell
#: pitch (squashed by x / (1 + |x| / 8) so far noise cells stay bounded), energy
#: fraction of the event, log10(E / MeV) / 4, then a one-hot layer tag (4 layers).
POINT_FEATURES = ("d_phi", "d_eta", "energy_fraction", "log_energy", "layer_0", "layer_1", "layer_2", "layer_3")


def _cell_table(detector):
    """Static per-cell (phi, eta, phi pitch, eta pitch, layer one-hot) of all layers' flattened cells."""
    rows = []
    for index, layer in enumerate(detector.layers):
        phi, eta = np.meshgrid(_centres(layer.phi_edges_rad), _centres(layer.eta_edges_rad), indexing="ij")
        one_hot = np.zeros((phi.size, len(detector.layers)))
        one_hot[:, index] = 1.0
        pitch = np.broadcast_to(layer.cell_size_rad, (phi.size, 2))
        rows.append(np.column_stack([phi.ravel(), eta.ravel(), pitch, one_hot]))
    return np.concatenate(rows)


def point_clouds(sample, detector, max_points=128):
    """(events, max_points, 8) clouds of the cells with energy, hottest first, zero-padded.

    Coordinates are offsets from the energy-weighted centre of the point's own layer,
    in that layer's cell pitches: a two-strip separation is a difference of two,
    whatever the impact point, and the fine strip structure is measured from the
    strips' own centre, not from the coarser middle cells. Cells are zero-suppressed
    by the readout, so "with energy" means above noise; events with more cells keep
    the most energetic. Negative cells (noise-subtracted read-outs) are no points, and
    do not pull the layer centres.
    """
    if len(sample) == 0:
        raise EmptyDatasetError("cannot build point clouds of an empty sample")
    energy = np.concatenate([layer.reshape(len(layer), -1) for layer in sample.layers], axis=1).astype(np.float32)
    order = np.argsort(-energy, axis=1, kind="stable")[:, :max_points]
    top = np.take_along_axis(energy, order, axis=1)
    mask = top > 0
    total = np.maximum(energy.sum(axis=1, keepdims=True), 1e-6)
    table = _cell_table(detector)  # (cells, 8): phi, eta, pitches, one-hot
    # Energy-weighted centre of each layer, broadcast to its cells: (events, cells).
    centres = []
    for index, layer in enumerate(detector.layers):
        image = np.clip(sample.layers[index], 0.0, None).astype(np.float64)
        w = np.maximum(image.sum(axis=(1, 2)), 1e-9)
        phi0 = (image.sum(axis=2) * _centres(layer.phi_edges_rad)).sum(axis=1) / w
        eta0 = (image.sum(axis=1) * _centres(layer.eta_edges_rad)).sum(axis=1) / w
        centres.append(np.repeat(np.stack([phi0, eta0], -1)[:, None, :], layer.n_phi * layer.n_eta, axis=1))
    centre = np.take_along_axis(np.concatenate(centres, axis=1), order[..., None], axis=1)
    cells = table[order]
    offsets = (cells[..., :2] - centre) / cells[..., 2:4]
    offsets = offsets / (1.0 + np.abs(offsets) / 8.0)
    clouds = np.concatenate([offsets, (top / total)[..., None], (np.log10(np.maximum(top, 1.0)) / 4.0)[..., None],
                             cells[..., 4:]], axis=-1)
    return np.where(mask[..., None], clouds, 0.0).astype(np.float32)


# -- clusters of the shashlik calorimeter ------------------------------------------------
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
    clusters = _window(image, iy, ix, half, half)
    return clusters, _centres(layer.x_edges_mm)[ix], _centres(layer.y_edges_mm)[iy]


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
    xy = photons[..., :2] if position_limit_mm is None else np.clip(photons[..., :2], -position_limit_mm, position_limit_mm)
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
    total, and the cells' x and y in metres as two constant channels ("CoordConv"), so
    that convolutions can tell where they are, which absolute positions need."""
    image_gev = np.asarray(image_gev, dtype=float)
    total = image_gev.sum(axis=(1, 2))
    if (total <= 0).any():
        raise EmptyDatasetError(f"{int((total <= 0).sum())} events hold no energy")
    x, y = np.meshgrid(_centres(layer.x_edges_mm) / 1000.0, _centres(layer.y_edges_mm) / 1000.0)
    coordinates = np.broadcast_to(np.stack([x, y], axis=-1), image_gev.shape + (2,))
    return np.concatenate([(image_gev / total[:, None, None])[..., None], coordinates], axis=-1).astype(np.float32)


# -- hits to images (the LDMX study) -------------------------------------------------------
def _nearest_grid_index(values, low, high, n):
    """Index of the nearest of n points linspace(low, high, n) (the original's binning);
    a value halfway between two points goes to the lower one, as argmin does."""
    return np.clip(np.ceil((values - low) / (high - low) * (n - 1) - 0.5), 0, n - 1).astype(np.int64)


def hit_images(x, y, z, energy, kind="xyz", size=20, depth=10, log_depth=False, xy_range_mm=(-200.0, 200.0),
               z_range_mm=(240.0, 530.0)):
    """Images from jagged hits (awkward arrays: per event x, y, z in mm, E in MeV).

    * ``kind="xyz"``: (events, size, size, 3), the x-y, y-z and z-x projections of the
      energy as three channels, each hit on the nearest point of a ``size`` grid;
    * ``kind="z_split"``: (events, size, size, depth), the x-y image in ``depth`` slices
      of z, linear or, with ``log_depth``, logarithmic (fine at the front, where EM
      showers start).

    The original put z on the x-y grid (-200..200 mm), so every ECAL hit (z > 240 mm) fell
    in its last z bin; here z spans the ECAL. Each image is divided by its maximum.
    Events without energy are dropped: returns (images, kept) with ``kept`` a boolean
    mask over the input events.
    """
    import awkward as ak

    if kind not in ("xyz", "z_split"):
        raise ParameterError(f"image kind must be 'xyz' or 'z_split', not {kind!r}")
    if size < 2 or depth < 1:
        raise ParameterError(f"image size must be at least 2 and depth at least 1, got {size} and {depth}")
    counts = np.asarray(ak.num(energy))
    flat = {name: np.asarray(ak.flatten(values), dtype=np.float64) for name, values in
            (("x", x), ("y", y), ("z", z), ("E", energy))}
    event = np.repeat(np.arange(len(counts)), counts)
    ix = _nearest_grid_index(flat["x"], *xy_range_mm, size)
    iy = _nearest_grid_index(flat["y"], *xy_range_mm, size)
    if kind == "xyz":
        iz = _nearest_grid_index(flat["z"], *z_range_mm, size)
        images = np.zeros(len(counts) * size * size * 3)
        for channel, (a, b) in enumerate(((ix, iy), (iy, iz), (iz, ix))):
            # bincount on the flat index: the vectorised form of "+= E" per hit
            images += np.bincount(((event * size + a) * size + b) * 3 + channel, flat["E"], minlength=images.size)
        images = images.reshape(len(counts), size, size, 3)
    else:
        low, high = z_range_mm
        if log_depth:
            edges = low - 1.0 + np.geomspace(1.0, high - low + 1.0, depth + 1)
        else:
            edges = np.linspace(low, high, depth + 1)
        iz = np.clip(np.searchsorted(edges, flat["z"], side="right") - 1, 0, depth - 1)
        images = np.bincount(((event * size + ix) * size + iy) * depth + iz, flat["E"],
                             minlength=len(counts) * size * size * depth).reshape(len(counts), size, size, depth)
    peak = images.reshape(len(images), -1).max(axis=1) if len(images) else np.zeros(0)
    kept = peak > 0
    return (images[kept] / peak[kept, None, None, None]).astype(np.float32), kept


def scaled_images(images):
    """(events, H, W) images divided by their own maximum, with a channel axis, float32.
    (The original added 0.1 after min-max scaling and then clipped noisy copies at 1,
    cutting off the brightest pixels; plain max scaling keeps them.)"""
    images = np.asarray(images, dtype=np.float32)
    peak = images.reshape(len(images), -1).max(axis=1) if len(images) else np.zeros(0)
    if len(images) == 0 or (peak <= 0).any():
        raise EmptyDatasetError(f"{int((peak <= 0).sum()) if len(images) else 0} of {len(images)} images are empty")
    return (images / peak[:, None, None])[..., None]


# -- photon identification ------------------------------------------------------------
#: The photon-ID variables: the cut-based menu's and the CNN's scalar inputs (as the
#: original, which gives its network the presampler sum besides the images).
PHOTON_ID_VARIABLES = ("r_had", "r_eta", "r_phi", "w_eta2", "w_s3", "w_stot", "f_side", "delta_e_s", "e_ratio")
#: The side of each variable where photons sit: True when photons have low values.
PHOTON_KEEP_BELOW = {"r_had": True, "r_eta": False, "r_phi": False, "w_eta2": True, "w_s3": True, "w_stot": True,
                     "f_side": True, "delta_e_s": True, "e_ratio": False}


def check_photon_id_sample(sample, detector):
    """Refuse a sample the photon-ID code cannot use, with one sentence."""
    if len(sample) == 0:
        raise EmptyDatasetError("the photon-ID sample holds no events")
    for layer, expected, name in zip(sample.layers, detector.layer_shapes, detector.layer_names):
        if layer.shape[1:] != tuple(expected):
            raise ParameterError(f"the {name} images are {layer.shape[1:]} cells, the photon-ID cluster needs {expected}")
        if not np.all(np.isfinite(layer)):
            raise ParameterError(f"the {name} images hold NaN or infinite energies")
    missing = [k for k in ("abs_eta", "hadronic_energy_gev") if k not in sample.truth]
    if missing:
        raise ParameterError(f"the photon-ID sample needs per-event {' and '.join(missing)}")


def photon_id_variables(sample, detector):
    """The shower shapes of ``shower_shapes`` plus, per candidate, E_T (GeV, the cluster
    energy over cosh eta), |eta|, the presampler fraction and
    R_had = E_T(hadronic calorimeter) / E_T."""
    check_photon_id_sample(sample, detector)
    variables = shower_shapes(sample, detector)
    abs_eta = np.asarray(sample.truth["abs_eta"], float)
    layer_e = sample.layer_energy_gev()
    et = layer_e.sum(axis=1) / np.cosh(abs_eta)
    hadronic_et = np.asarray(sample.truth["hadronic_energy_gev"], float) / np.cosh(abs_eta)
    variables.update(et_gev=et, abs_eta=abs_eta, r_had=hadronic_et / np.maximum(et, 1e-6),
                     presampler_fraction=layer_e[:, 0] / np.maximum(layer_e.sum(axis=1), 1e-9))
    return variables


def hybrid_cnn_inputs(sample, detector):
    """Inputs of the hybrid CNN: strips, middle and back images (events, phi, eta, 1), each
    cell divided by its layer's energy (the original's normalisation; negative, noise-
    subtracted cells are set to zero first so that the fractions stay in [0, 1]), and the scalars
    (presampler fraction, R_had, |eta|, log(E_T / 10 GeV))."""
    variables = photon_id_variables(sample, detector)
    images = []
    for layer in sample.layers[1:]:
        layer = np.clip(layer.astype(np.float64), 0, None)
        images.append((layer / np.maximum(layer.sum(axis=(1, 2), keepdims=True), 1e-9))[..., None].astype(np.float32))
    scalars = np.stack([variables["presampler_fraction"], np.clip(variables["r_had"], -0.5, 1.0), variables["abs_eta"],
                        np.log(np.maximum(variables["et_gev"], 1.0) / 10.0)], axis=1).astype(np.float32)
    return images + [scalars]
