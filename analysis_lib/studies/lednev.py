"""The Lednev shower fit (GAMS / COMPASS): the energy of a shower in a cell is the
integral over the cell of F(x, y) = sum_i a_i * (corner terms with widths b_i), fitted to
the cells with a chi2 weighted by the detector's ``CellNoise``. The shashlik chapters
measure their networks against it.

Contents: ``LEDNEV_A``, ``LEDNEV_B_MM``, ``LEDNEV_X0_MM``, ``lednev_widths``,
``lednev_corner``, ``lednev_cells``, ``LednevFit``, ``CellNoise``, ``fit_lednev``
(iminuit, one cluster), ``fit_lednev_batch`` (Levenberg-Marquardt, all clusters at
once), ``lednev_pulls``, ``InclinationCorrection`` (for photons from a target).
"""

from dataclasses import dataclass

import numpy as np

from ..errors import EmptyDatasetError


#: COMPASS CORAL's Lednev parameters: amplitudes a_i (sum 1) and widths b_i in mm for
#: X0 = 23.7 mm; widths scale with the radiation length of the calorimeter.
LEDNEV_A = (0.80, 0.30, -0.10)


LEDNEV_B_MM = (8.0, 2.0, 76.0)
LEDNEV_X0_MM = 23.7


def lednev_widths(radiation_length_mm):
    return tuple(b * radiation_length_mm / LEDNEV_X0_MM for b in LEDNEV_B_MM)


def lednev_corner(x, y, widths, amplitudes=LEDNEV_A):
    """F(x, y): fraction of a shower at the origin with x' < x and y' < y,

    F = 1/4 + 1/(2 pi) sum_i a_i [atan(x/b_i) + atan(y/b_i) + atan(x y / (b_i sqrt(b_i^2 + x^2 + y^2)))],

    the integral of the density sum_i a_i b_i / (2 pi (r^2 + b_i^2)^(3/2)).
    """
    total = 0.25
    for a, b in zip(amplitudes, widths):
        total = total + a / (2 * np.pi) * (np.arctan(x / b) + np.arctan(y / b)
                                           + np.arctan(x * y / (b * np.sqrt(b * b + x * x + y * y))))
    return total


def lednev_cells(x_mm, y_mm, cell_x_mm, cell_y_mm, cell_mm, widths):
    """Fraction of a shower at (x, y) in each square cell centred at (cell_x, cell_y)."""
    dx, dy, h = cell_x_mm - x_mm, cell_y_mm - y_mm, cell_mm / 2
    return (lednev_corner(dx + h, dy + h, widths) - lednev_corner(dx + h, dy - h, widths)
            - lednev_corner(dx - h, dy + h, widths) + lednev_corner(dx - h, dy - h, widths))


@dataclass
class LednevFit:
    """Fitted photons of one cluster: arrays (photons,) of E (GeV), x, y (mm); chi2, valid."""

    energy_gev: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray
    chi2: float
    valid: bool


def _seeds(cells_gev, cell_x, cell_y, n_photons):
    """Centre of gravity (log weights, W0 = 4) and, for two photons, two points along the
    principal axis of the energy distribution, at +-1 sigma, sharing the energy equally."""
    total = cells_gev.sum()
    weights = np.maximum(0.0, 4.0 + np.log(np.maximum(cells_gev, 1e-12) / total))
    if weights.sum() == 0:
        weights = cells_gev
    cx, cy = np.average(cell_x, weights=weights), np.average(cell_y, weights=weights)
    if n_photons == 1:
        return [(total, cx, cy)]
    cov = np.cov(np.vstack([cell_x, cell_y]), aweights=np.maximum(cells_gev, 0) + 1e-12)
    values, vectors = np.linalg.eigh(cov)
    step = np.sqrt(max(values[-1] - values[0], 1.0)) * vectors[:, -1]
    return [(total / 2, cx + step[0], cy + step[1]), (total / 2, cx - step[0], cy - step[1])]


@dataclass(frozen=True)
class CellNoise:
    """Variance of one cell's energy, sigma^2 = a^2 E + b^2 + c^2 E^2 (E in GeV): the
    weights of the Lednev chi2. Take it from the calorimeter the clusters come from
    (``CellNoise.of(detector)``), so a change of the detector changes the fit too."""

    stochastic: float  # a, GeV^1/2
    noise_gev: float  # b, per cell
    constant: float  # c

    @classmethod
    def of(cls, detector):
        """The noise model of a cell calorimeter with ``sampling_term``, ``constant_term``
        and one layer of cells with ``noise_mev``."""
        return cls(detector.sampling_term, detector.layers[0].noise_mev / 1000.0, detector.constant_term)

    def variance(self, cells_gev):
        return self.stochastic**2 * np.clip(cells_gev, 0, None) + self.noise_gev**2 + (self.constant * cells_gev) ** 2


def fit_lednev(cells_gev, cell_x_mm, cell_y_mm, cell_mm, radiation_length_mm, n_photons=1, *, noise):
    """Fit ``n_photons`` Lednev showers to one cluster (arrays of cell energies and centres).

    chi2 = sum_cells (E_i - sum_k E_k F_ik)^2 / sigma_i^2, sigma_i^2 from ``noise`` (a ``CellNoise``).
    """
    from iminuit import Minuit

    cells_gev = np.asarray(cells_gev, float).ravel()
    cell_x, cell_y = np.asarray(cell_x_mm, float).ravel(), np.asarray(cell_y_mm, float).ravel()
    if not np.isfinite(cells_gev).all() or cells_gev.sum() <= 0:
        raise EmptyDatasetError("a Lednev fit needs a cluster with positive, finite energy")
    widths = lednev_widths(radiation_length_mm)
    variance = noise.variance(cells_gev)

    def chi2(*p):
        model = sum(p[3 * k] * lednev_cells(p[3 * k + 1], p[3 * k + 2], cell_x, cell_y, cell_mm, widths)
                    for k in range(n_photons))
        return float(np.sum((cells_gev - model) ** 2 / variance))

    start = [v for seed in _seeds(cells_gev, cell_x, cell_y, n_photons) for v in seed]
    names = [f"{q}{k}" for k in range(n_photons) for q in ("e", "x", "y")]
    m = Minuit(chi2, *start, name=names)
    m.errordef = Minuit.LEAST_SQUARES
    for k in range(n_photons):
        m.limits[f"e{k}"] = (0.0, None)
    m.migrad()
    values = np.asarray(m.values).reshape(n_photons, 3)
    return LednevFit(values[:, 0], values[:, 1], values[:, 2], float(m.fval), bool(m.valid))


def _lednev_edge(x, y, widths, amplitudes=LEDNEV_A):
    """dF/dx: the density integrated along y' < y at fixed x,
    sum_i a_i b_i / (2 pi (x^2 + b_i^2)) (1 + y / sqrt(x^2 + y^2 + b_i^2))."""
    total = 0.0
    for a, b in zip(amplitudes, widths):
        total = total + a * b / (2 * np.pi * (x * x + b * b)) * (1 + y / np.sqrt(x * x + y * y + b * b))
    return total


def _lednev_cells_and_gradient(x_mm, y_mm, cell_x_mm, cell_y_mm, cell_mm, widths):
    """Cell fractions and their derivatives with respect to the shower's x and y."""
    dx, dy, h = cell_x_mm - x_mm, cell_y_mm - y_mm, cell_mm / 2
    cells = lednev_cells(x_mm, y_mm, cell_x_mm, cell_y_mm, cell_mm, widths)
    d_dx = -(_lednev_edge(dx + h, dy + h, widths) - _lednev_edge(dx + h, dy - h, widths)
             - _lednev_edge(dx - h, dy + h, widths) + _lednev_edge(dx - h, dy - h, widths))
    d_dy = -(_lednev_edge(dy + h, dx + h, widths) - _lednev_edge(dy + h, dx - h, widths)
             - _lednev_edge(dy - h, dx + h, widths) + _lednev_edge(dy - h, dx - h, widths))
    return cells, d_dx, d_dy


def _batch_seeds(cells, cell_x, cell_y, n_photons, spread=1.0):
    """``_seeds`` for many clusters at once, (clusters, photons, [E, x, y]); two photons
    start ``spread`` sigma either side of the centre of gravity."""
    total = cells.sum(axis=1)
    weights = np.maximum(0.0, 4.0 + np.log(np.maximum(cells, 1e-12) / total[:, None]))
    weights = np.where(weights.sum(axis=1, keepdims=True) > 0, weights, cells)
    weights = weights / weights.sum(axis=1, keepdims=True)
    cx, cy = weights @ cell_x, weights @ cell_y
    if n_photons == 1:
        return np.stack([total, cx, cy], axis=-1)[:, None, :]
    w = np.clip(cells, 0, None) + 1e-12
    w = w / w.sum(axis=1, keepdims=True)
    mx, my = w @ cell_x, w @ cell_y
    xx, yy = w @ cell_x**2 - mx**2, w @ cell_y**2 - my**2
    xy = w @ (cell_x * cell_y) - mx * my
    cov = np.stack([np.stack([xx, xy], -1), np.stack([xy, yy], -1)], -2)
    values, vectors = np.linalg.eigh(cov)
    step = spread * np.sqrt(np.maximum(values[:, 1] - values[:, 0], 1.0))[:, None] * vectors[:, :, 1]
    first = np.stack([total / 2, cx + step[:, 0], cy + step[:, 1]], axis=-1)
    second = np.stack([total / 2, cx - step[:, 0], cy - step[:, 1]], axis=-1)
    return np.stack([first, second], axis=1)


def fit_lednev_batch(clusters_gev, cell_x_mm, cell_y_mm, cell_mm, radiation_length_mm, n_photons=1,
                     iterations=50, *, noise):
    """The chi2 of ``fit_lednev`` minimised for many clusters at once (Levenberg-Marquardt
    with the analytic gradient of the cell integral, one damping factor per cluster).

    iminuit fits one cluster in milliseconds; training sets of 10^4-10^5 clusters need
    this vectorised form. Returns photons (clusters, photons, [x_mm, y_mm, E_gev]) and
    chi2 (clusters,).
    """
    cells = np.asarray(clusters_gev, float).reshape(len(clusters_gev), -1)
    cell_x, cell_y = np.asarray(cell_x_mm, float).ravel(), np.asarray(cell_y_mm, float).ravel()
    if len(cells) == 0 or not np.isfinite(cells).all() or (cells.sum(axis=1) <= 0).any():
        raise EmptyDatasetError("a Lednev fit needs clusters with positive, finite energy")
    widths = lednev_widths(radiation_length_mm)
    sigma = np.sqrt(noise.variance(cells))

    def residuals_and_jacobian(p, index=slice(None)):
        f, fx, fy = _lednev_cells_and_gradient(p[..., 1, None], p[..., 2, None], cell_x, cell_y, cell_mm, widths)
        energy = p[..., 0, None]
        residual = (cells[index] - (energy * f).sum(axis=1)) / sigma[index]
        jacobian = np.stack([f, energy * fx, energy * fy], axis=-1) / sigma[index][:, None, :, None]
        return residual, jacobian.transpose(0, 2, 1, 3).reshape(len(p), cells.shape[1], -1)

    best_params, best_chi2 = None, None
    # Two overlapping showers have local minima: start from two spreads, keep the better.
    for spread in ((1.0,) if n_photons == 1 else (0.5, 1.5)):
        params, chi2 = _levenberg_marquardt(residuals_and_jacobian,
                                            _batch_seeds(cells, cell_x, cell_y, n_photons, spread),
                                            iterations)
        if best_chi2 is None:
            best_params, best_chi2 = params, chi2
        else:
            better = chi2 < best_chi2
            best_params = np.where(better[:, None, None], params, best_params)
            best_chi2 = np.where(better, chi2, best_chi2)
    return best_params[..., [1, 2, 0]], best_chi2


def _levenberg_marquardt(residuals_and_jacobian, params, iterations, tolerance=1e-4):
    """Per-cluster Levenberg-Marquardt steps, energies kept non-negative. A cluster stops
    when its chi2 improves by less than ``tolerance`` or its damping runs away."""
    residual, jacobian = residuals_and_jacobian(params)
    chi2 = np.sum(residual**2, axis=1)
    damping = np.full(len(params), 1e-3)
    active = np.arange(len(params))
    n_par = jacobian.shape[-1]
    for _ in range(iterations):
        if active.size == 0:
            break
        j, r = jacobian[active], residual[active]
        jtj = np.einsum("nci,ncj->nij", j, j)
        jtr = np.einsum("nci,nc->ni", j, r)
        diagonal = np.einsum("nii->ni", jtj)
        lhs = jtj + damping[active, None, None] * (diagonal[:, :, None] + 1e-9) * np.eye(n_par)
        step = np.linalg.solve(lhs, jtr[..., None])[..., 0]
        trial = params[active] + step.reshape(params[active].shape)
        trial[..., 0] = np.maximum(trial[..., 0], 0.0)
        trial_residual, trial_jacobian = residuals_and_jacobian(trial, active)
        trial_chi2 = np.sum(trial_residual**2, axis=1)
        better = trial_chi2 < chi2[active]
        improved = active[better]
        gain = chi2[improved] - trial_chi2[better]
        params[improved], residual[improved] = trial[better], trial_residual[better]
        jacobian[improved], chi2[improved] = trial_jacobian[better], trial_chi2[better]
        damping[improved] /= 10
        damping[active[~better]] *= 10
        done = np.zeros(len(params), bool)
        done[improved[gain < tolerance]] = True
        done[active[damping[active] > 1e8]] = True
        active = active[~done[active]]
    return params, chi2


def lednev_pulls(clusters_gev, photons, cell_x_mm, cell_y_mm, cell_mm, radiation_length_mm, *, noise):
    """(E_cell - model_cell) / sigma_cell of fitted ``photons`` (clusters, photons, [x, y, E]),
    (clusters, cells): where the shower function misses the cluster."""
    cells = np.asarray(clusters_gev, float).reshape(len(clusters_gev), -1)
    cell_x, cell_y = np.asarray(cell_x_mm, float).ravel(), np.asarray(cell_y_mm, float).ravel()
    widths = lednev_widths(radiation_length_mm)
    model = sum(photons[:, k, 2, None] * lednev_cells(photons[:, k, 0, None], photons[:, k, 1, None], cell_x, cell_y,
                                                      cell_mm, widths) for k in range(photons.shape[1]))
    sigma = np.sqrt(noise.variance(cells))
    return (cells - model) / sigma


@dataclass
class InclinationCorrection:
    """Corrections of a shower fit for photons from a target at ``target_distance_mm``:

    x_front = x_fit - d tan(theta_x), tan(theta_x) = x_fit / L (same for y), E = s E_fit.

    The fit measures an inclined shower at its effective depth d (about the depth of
    its energy centroid); s restores the energy outside the cluster. Positions are
    absolute (mm from the beam axis).
    """

    depth_mm: float
    energy_scale: float
    target_distance_mm: float

    @classmethod
    def calibrate(cls, fitted, truth, target_distance_mm, min_energy_fraction=0.1, max_residual_mm=50.0):
        """d by least squares of x_fit - x_true = d x_fit / L, s as the median of
        E_true / E_fit, on photons (clusters, photons, [x, y, E]) matched to the truth;
        photons with less than ``min_energy_fraction`` of their cluster, and failed fits
        (a residual beyond ``max_residual_mm``), are left out."""
        fitted, truth = np.asarray(fitted, float), np.asarray(truth, float)
        keep = truth[..., 2] > min_energy_fraction * truth[..., 2].sum(axis=-1, keepdims=True)
        keep &= (np.abs(fitted[..., :2] - truth[..., :2]) < max_residual_mm).all(axis=-1)
        slope = fitted[..., :2][keep] / target_distance_mm
        residual = (fitted[..., :2] - truth[..., :2])[keep]
        if keep.sum() < 10 or not np.any(slope):
            raise EmptyDatasetError("the inclination correction needs at least 10 photons away from the beam axis")
        depth = float(np.sum(residual * slope) / np.sum(slope * slope))
        scale = float(np.median(truth[..., 2][keep] / np.maximum(fitted[..., 2][keep], 1e-9)))
        return cls(depth, scale, float(target_distance_mm))

    def apply(self, fitted):
        corrected = np.array(fitted, dtype=float)
        corrected[..., :2] -= self.depth_mm * corrected[..., :2] / self.target_distance_mm
        corrected[..., 2] *= self.energy_scale
        return corrected
