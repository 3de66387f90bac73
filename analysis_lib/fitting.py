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
