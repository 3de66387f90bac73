"""Fits with iminuit: Gaussian cores of response distributions and the
calorimeter resolution function sigma/E = a/sqrt(E) (+) b/E (+) c."""

from dataclasses import dataclass

import numpy as np
from iminuit import Minuit
from iminuit.cost import BinnedNLL, LeastSquares
from scipy.stats import norm

from .errors import EmptyDatasetError


@dataclass
class FitResult:
    """Best values and (HESSE) errors of a fit, by parameter name."""

    values: dict
    errors: dict
    valid: bool
    chi2: float = np.nan
    ndof: int = 0

    def __getitem__(self, name):
        return self.values[name]


def _result(m, cost=None):
    chi2 = float(m.fval) if cost is not None else np.nan
    ndof = int(cost.ndata - m.nfit) if cost is not None else 0
    return FitResult(dict(zip(m.parameters, m.values)), dict(zip(m.parameters, m.errors)), m.valid, chi2, ndof)


def fit_gaussian_core(values, n_sigma=2.0, bins=40, iterations=3):
    """Gaussian (mu, sigma) of the core of ``values``: a binned likelihood fit of a
    normal distribution truncated to mu +- n_sigma sigma, re-centred ``iterations`` times.

    The core fit is the calorimeter convention: tails from leakage or
    conversions do not pull the resolution.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 20:
        raise EmptyDatasetError(f"a Gaussian core fit needs at least 20 values, got {values.size}")
    q25, mu, q75 = np.percentile(values, [25, 50, 75])
    sigma = max((q75 - q25) / 1.349, 1e-9)
    for _ in range(iterations):
        lo, hi = mu - n_sigma * sigma, mu + n_sigma * sigma
        counts, edges = np.histogram(values, bins=bins, range=(lo, hi))

        m = Minuit(BinnedNLL(counts, edges, _truncated_normal_cdf(lo, hi)), mu=mu, sigma=sigma)
        m.limits["sigma"] = (1e-9, None)
        m.migrad()
        m.hesse()
        mu, sigma = m.values["mu"], m.values["sigma"]
    return _result(m)


def _truncated_normal_cdf(lo, hi):
    def cdf(x, mu, sigma):
        return (norm.cdf(x, mu, sigma) - norm.cdf(lo, mu, sigma)) / (norm.cdf(hi, mu, sigma) - norm.cdf(lo, mu, sigma))

    return cdf


def resolution_model(energy_gev, a, b, c):
    """sigma/E = sqrt((a/sqrt(E))^2 + (b/E)^2 + c^2), E in GeV: a stochastic (sqrt GeV),
    b noise (GeV), c constant term."""
    energy_gev = np.asarray(energy_gev, dtype=float)
    return np.sqrt(a**2 / energy_gev + (b / energy_gev) ** 2 + c**2)


def fit_resolution(energy_gev, relative_sigma, relative_sigma_error):
    """Least-squares fit of ``resolution_model`` to measured sigma/E points."""
    cost = LeastSquares(np.asarray(energy_gev, float), np.asarray(relative_sigma, float),
                        np.asarray(relative_sigma_error, float), resolution_model)
    m = Minuit(cost, a=0.1, b=0.2, c=0.01)
    m.limits = [(0, None), (0, None), (0, None)]
    m.migrad()
    m.hesse()
    return _result(m, cost)


# -- Lednev shower fit (GAMS / COMPASS) ------------------------------------------------
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


def fit_lednev(cells_gev, cell_x_mm, cell_y_mm, cell_mm, radiation_length_mm, n_photons=1,
               stochastic=0.07, noise_gev=0.005, constant=0.01):
    """Fit ``n_photons`` Lednev showers to one cluster (arrays of cell energies and centres).

    chi2 = sum_cells (E_i - sum_k E_k F_ik)^2 / sigma_i^2, sigma_i^2 = a^2 E_i + b^2 + c^2 E_i^2.
    """
    from iminuit import Minuit

    cells_gev = np.asarray(cells_gev, float).ravel()
    cell_x, cell_y = np.asarray(cell_x_mm, float).ravel(), np.asarray(cell_y_mm, float).ravel()
    if not np.isfinite(cells_gev).all() or cells_gev.sum() <= 0:
        raise EmptyDatasetError("a Lednev fit needs a cluster with positive, finite energy")
    widths = lednev_widths(radiation_length_mm)
    variance = stochastic**2 * np.clip(cells_gev, 0, None) + noise_gev**2 + (constant * cells_gev) ** 2

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


def core_widths_in_bins(values, keys, edges, min_count=20):
    """Gaussian-core sigma of ``values`` in bins of ``keys``; NaN where a bin holds
    fewer than ``min_count`` values. Returns (bin centres, sigmas, errors)."""
    values, keys, edges = np.asarray(values), np.asarray(keys), np.asarray(edges, dtype=float)
    index = np.digitize(keys, edges) - 1
    sigma, error = np.full(len(edges) - 1, np.nan), np.full(len(edges) - 1, np.nan)
    for b in range(len(edges) - 1):
        selected = values[index == b]
        if selected.size >= min_count:
            fit = fit_gaussian_core(selected)
            sigma[b], error[b] = fit["sigma"], fit.errors["sigma"]
    return 0.5 * (edges[1:] + edges[:-1]), sigma, error
