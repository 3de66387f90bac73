"""Per-event quantities computed from calorimeter images and from the truth record,
shared by the studies on the ATLAS-like ECAL (photon-jets and photon ID); each study's
own inputs are in its module of ``studies``.

Everything is vectorised over events: arrays in, arrays out.

Contents: ``bin_centres``, ``hottest_cell_angles``, ``cluster_energy_gev``,
``photon_pair_separations``, ``energy_weighted_rms_angle``; shower shapes:
``SHOWER_SHAPES``, ``STRIP_SHOWER_SHAPES``, ``SHOWER_SHAPE_LABELS``, ``cell_window``,
``strip_profile``, ``strip_maxima``, ``second_hottest_cell``, ``shower_shapes`` (ATLAS's
definitions or the photon-jet study's own); ``PHYSICS_VARIABLE_LABELS``,
``physics_variables``, ``log_scaled_images`` (each event's energy fractions) and
``energy_log_images`` (absolute energies on one scale), the networks' inputs.
"""

import numpy as np

from .errors import EmptyDatasetError, ParameterError


def bin_centres(edges):
    return 0.5 * (edges[1:] + edges[:-1])


def hottest_cell_angles(image, layer):
    """(phi, eta) in rad of the hottest cell of each event's image (events, n_phi, n_eta)."""
    flat = image.reshape(len(image), -1).argmax(axis=1)
    i_phi, i_eta = np.unravel_index(flat, layer.shape)
    return bin_centres(layer.phi_edges_rad)[i_phi], bin_centres(layer.eta_edges_rad)[i_eta]


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
        in_phi = np.abs(bin_centres(layer.phi_edges_rad)[None, :] - phi0[:, None]) <= half_width_rad + 1e-9
        in_eta = np.abs(bin_centres(layer.eta_edges_rad)[None, :] - eta0[:, None]) <= half_width_rad + 1e-9
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
#: The shower shapes read from the strip layer (the others from the middle layer).
STRIP_SHOWER_SHAPES = SHOWER_SHAPES[:6]
SHOWER_SHAPE_LABELS = {
    "f1": "f1 (strip energy fraction)", "w_s3": "w_s3 [strips]", "w_stot": "w_stot [strips]",
    "f_side": "f_side", "delta_e_s": "Delta E_s [GeV]", "e_ratio": "E_ratio", "r_eta": "R_eta",
    "r_phi": "R_phi", "w_eta2": "w_eta2 [rad]",
}


def cell_window(images, i, j, half_i, half_j):
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
    window = cell_window(profile[:, None, :], np.zeros(len(profile), int), centre, 0, half)[:, 0, :]
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


def second_hottest_cell(strips):
    """(E_max1, E_max2, E_min) of strip images (events, phi, eta) as the photon-jet study
    computed them: its hottest and second-hottest cell anywhere in the layer (usually
    the hottest one's neighbour, not a second shower), and the lowest cell of the
    phi-eta rectangle the two span."""
    n = len(strips)
    flat = strips.reshape(n, -1)
    order = np.argsort(flat, axis=1)
    first, second = order[:, -1], order[:, -2]
    events = np.arange(n)
    (r1, c1), (r2, c2) = np.unravel_index(first, strips.shape[1:]), np.unravel_index(second, strips.shape[1:])
    rows = np.arange(strips.shape[1])[None, :, None]
    cols = np.arange(strips.shape[2])[None, None, :]

    def between(a, b, index):
        return (index >= np.minimum(a, b)[:, None, None]) & (index <= np.maximum(a, b)[:, None, None])

    e_min = np.where(between(r1, r2, rows) & between(c1, c2, cols), strips, np.inf).min(axis=(1, 2))
    return flat[events, first], flat[events, second], e_min


def shower_shapes(sample, detector, definitions="atlas"):
    """The nine BDT variables of every event, as a dict of arrays (energies in GeV).

    f1      strip energy / total energy
    w_s3    energy-weighted width of the strip profile over i_max +- 1 (strips)
    w_stot  the same over i_max +- 9
    f_side  (E(+-3 strips) - E(+-1)) / E(+-1)
    e_ratio (E_max1 - E_max2) / (E_max1 + E_max2)
    delta_e_s  E_max2 - E_min
    r_eta   E(3 eta x 7 phi) / E(7 x 7) middle cells around the hottest
    r_phi   E(3 eta x 3 phi) / E(3 eta x 7 phi)
    w_eta2  energy-weighted eta width (rad) of the 3 eta x 5 phi middle cells

    ``definitions``: "atlas" takes the strip profile of two phi rows (``strip_profile``)
    and the second *local* maximum (``strip_maxima``); "original" the photon-jet study's
    code: the hottest cell's phi row alone and the second-hottest cell
    (``second_hottest_cell``). The middle-layer variables are the same in both.

    Negative cells (noise-subtracted read-outs) enter every sum as they are; a ratio
    with a denominator <= 0 is 0, and a width whose weighted variance is negative is 0.
    """
    if definitions not in ("atlas", "original"):
        raise ParameterError(f"shower-shape definitions are 'atlas' or 'original', not {definitions!r}")
    if len(sample) == 0:
        raise EmptyDatasetError("cannot compute shower shapes of an empty sample")
    strips = sample.layers[detector.layer_index("strips")].astype(np.float64) / 1000.0
    middle = sample.layers[detector.layer_index("middle")].astype(np.float64) / 1000.0
    total = sample.total_energy_gev()
    if definitions == "atlas":
        profile = strip_profile(strips)
        i_max, e_max1, e_max2, e_min = strip_maxima(profile)
    else:
        hottest_row = np.unravel_index(strips.reshape(len(strips), -1).argmax(axis=1), strips.shape[1:])[0]
        profile = strips[np.arange(len(strips)), hottest_row]
        i_max = profile.argmax(axis=1)
        e_max1, e_max2, e_min = second_hottest_cell(strips)
    rows0 = np.zeros(len(profile), int)
    core = cell_window(profile[:, None, :], rows0, i_max, 0, 1)[:, 0].sum(axis=1)
    side = cell_window(profile[:, None, :], rows0, i_max, 0, 3)[:, 0].sum(axis=1)

    flat = middle.reshape(len(middle), -1).argmax(axis=1)
    i_phi, i_eta = np.unravel_index(flat, middle.shape[1:])
    e77 = cell_window(middle, i_phi, i_eta, 3, 3).sum(axis=(1, 2))
    e37 = cell_window(middle, i_phi, i_eta, 3, 1).sum(axis=(1, 2))  # 7 phi x 3 eta
    e33 = cell_window(middle, i_phi, i_eta, 1, 1).sum(axis=(1, 2))
    w35 = cell_window(middle, i_phi, i_eta, 2, 1)  # 5 phi x 3 eta
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


#: The quantities of ``physics_variables`` as a figure or a table names them (units in brackets).
PHYSICS_VARIABLE_LABELS = {
    "total_e": "total energy [GeV]", "presampler_e": "presampler energy [GeV]",
    "depth_weighted_e": "mean layer (energy-weighted)", "depth_weighted_e2": "mean squared layer (energy-weighted)",
    "middle_phi2": "middle-layer φ variance [rad²]", "middle_eta2": "middle-layer η variance [rad²]",
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
    phi = bin_centres(layer.phi_edges_rad)[None, :, None]
    eta = bin_centres(layer.eta_edges_rad)[None, None, :]
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


def energy_log_images(sample, floor_mev=1.0, ceiling_gev=300.0):
    """Layer images on one absolute scale for every event: each cell as
    sign(E) log(1 + |E| / E_floor) / log(1 + E_ceiling / E_floor), E in MeV, shape
    (events, phi, eta, 1) float32, within [-1, 1] below ``ceiling_gev``.

    ``log_scaled_images`` divides by the event's own energy, so a network sees the shape
    and never the energy: at a flat 40-250 GeV spectrum a heavy decay at high energy and a
    light one at low energy open by similar angles, and only the energy tells them apart.
    Here the cell's energy itself is on the scale (the original fed raw MeV), over the same
    five decades from ``floor_mev``.
    """
    if floor_mev <= 0 or ceiling_gev * 1000.0 <= floor_mev:
        raise ParameterError(f"energy_log_images needs 0 < floor_mev < ceiling; got {floor_mev} MeV and "
                             f"{ceiling_gev} GeV")
    scale = np.log1p(ceiling_gev * 1000.0 / floor_mev)
    return [(np.sign(layer) * np.log1p(np.abs(layer) / floor_mev) / scale)[..., None].astype(np.float32)
            for layer in sample.layers]
