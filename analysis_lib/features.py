"""Per-event quantities computed from calorimeter images and from the truth record.

Everything is vectorised over events: arrays in, arrays out.
"""

import numpy as np

from .errors import EmptyDatasetError


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
