"""Fits with iminuit, shared by the studies (the Lednev shower fit is the shashlik
study's, in ``studies.lednev``):

* response and resolution: Gaussian cores of response distributions
  (``fit_gaussian_core``, ``core_widths_in_bins``, ``resolution_table`` with bootstrap errors, its headline
  numbers ``resolution_numbers`` and sentence ``resolution_text``) and the
  calorimeter resolution sigma/E = a/sqrt(E) (+) b/E (+) c (``resolution_model``,
  ``fit_resolution``), with ``FitResult``; two methods' widths on the same events
  compared with a paired error (``paired_width_difference``);
* template fits of a mass peak: a signal template over a background that is either a
  control-sample template or a Bernstein polynomial (``bernstein_cdf``,
  ``fit_signal_yield`` -> ``YieldFit``), and an efficiency from independent pass and
  fail fits (``template_efficiency``); a closure test's table pairs each measured
  column with its error as ``CLOSURE_ERRORS`` says.

What to use when, for the background of a template fit: a control-sample template
(the simulated or side-band shape of the background, as the photon-ID original's
Z + jets template) wherever the background has structure near the peak, such as a
kinematic edge; a Bernstein polynomial only where it is smooth over the whole range,
and then with the degree checked by a closure test (``studies.photon_id`` measures
both).
"""

import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd
from iminuit import Minuit
from iminuit.cost import BinnedNLL, LeastSquares, Template
from scipy.special import betainc, ndtr

from .errors import EmptyDatasetError, ParameterError
from .metrics import paired_bootstrap, round_to_error


#: The measured columns of a template fit's closure table (``studies.photon_id.closure_summary``)
#: and the column of each one's error.
CLOSURE_ERRORS = {"pull mean": "error of the mean", "pull width": "error of the width",
                  "mean fitted efficiency": "error of the mean efficiency"}


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
        # ndtr is what norm.cdf computes, without scipy.stats' per-call checks: a core fit in half the time
        # a trial mu far outside the window leaves it no probability: 0/0, a step Minuit rejects
        with np.errstate(invalid="ignore", divide="ignore"):
            low = ndtr((lo - mu) / sigma)
            return (ndtr((np.asarray(x) - mu) / sigma) - low) / (ndtr((hi - mu) / sigma) - low)

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


def resolution_table(residuals, replicas=0, seed=0):
    """One row per method: Gaussian-core sigma_x, sigma_y (mm) and sigma_E/E and the
    biases of x and E, each with its error ("error <column>"), from ``residuals``
    {method: {"x": mm, "y": mm, "e": E/E_true - 1}}.

    With ``replicas`` > 0 each error is the standard deviation of the refitted core over
    bootstrap resamples of the clusters (``metrics.paired_bootstrap``): every replica finds
    its own window from its own quantiles, so the window's scatter, which HESSE's error of
    the last fixed-window fit leaves out, is in it (on the shashlik two-photon clusters HESSE
    is about 1.5 times too small). ``replicas=0`` keeps HESSE's, for where only the values
    are read (a training seed's spread)."""
    rows = []
    for method, res in residuals.items():
        fits, errors = {}, {}
        for key in ("x", "y", "e"):
            values = np.asarray(res[key], float)
            fits[key] = fit_gaussian_core(values)
            errors[key] = fits[key].errors if not replicas else _bootstrap_core(values, replicas, seed)
        rows.append({"method": method,
                     **{f"sigma_{k} [mm]": fits[k]["sigma"] for k in "xy"},
                     "sigma_E/E [%]": 100 * fits["e"]["sigma"],
                     **{f"error sigma_{k} [mm]": errors[k]["sigma"] for k in "xy"},
                     "error sigma_E/E [%]": 100 * errors["e"]["sigma"],
                     "bias x [mm]": fits["x"]["mu"], "error bias x [mm]": errors["x"]["mu"],
                     "bias E [%]": 100 * fits["e"]["mu"], "error bias E [%]": 100 * errors["e"]["mu"]})
    return pd.DataFrame(rows).set_index("method")


def _bootstrap_core(values, replicas, seed):
    """{"mu": error, "sigma": error} of ``fit_gaussian_core`` over bootstrap resamples."""
    finite = values[np.isfinite(values)]

    def mu_sigma(events):
        fit = fit_gaussian_core(finite[events])
        return fit["mu"], fit["sigma"]

    replica_fits = paired_bootstrap(mu_sigma, finite.size, replicas, seed)[0]
    return {"mu": float(np.std(replica_fits[:, 0], ddof=1)), "sigma": float(np.std(replica_fits[:, 1], ddof=1))}


def paired_width_difference(residuals_a, residuals_b, replicas=100, seed=0):
    """sigma_a - sigma_b of two methods' residuals of the **same** clusters (entry i of each
    from cluster i), Gaussian-core widths (``fit_gaussian_core``), and the error of the
    difference from a paired bootstrap (``metrics.paired_bootstrap``: the clusters resampled
    once for both, so what the two share, the hard clusters, cancels). Two widths' HESSE
    errors in quadrature treat the methods as independent samples, which they are not; and
    HESSE's error of the last fixed-window fit leaves out the window's own scatter, which the
    bootstrap, refitting each replica from its own quantiles, keeps."""
    a, b = np.asarray(residuals_a, float), np.asarray(residuals_b, float)
    if a.shape != b.shape:
        raise ValueError(f"a paired width difference needs residuals of the same clusters: {a.size} and {b.size}")

    def difference(events):
        return fit_gaussian_core(a[events])["sigma"] - fit_gaussian_core(b[events])["sigma"]

    _, error = paired_bootstrap(difference, a.size, replicas, seed)
    return float(difference(np.arange(a.size))), error


def resolution_text(table):
    """A ``resolution_table`` as a page's headline: each method's sigma_x and sigma_E/E with
    their errors."""
    return "; ".join(f"**{method}** σx {round_to_error(row['sigma_x [mm]'], row['error sigma_x [mm]'])} mm, "
                     f"σE/E {round_to_error(row['sigma_E/E [%]'], row['error sigma_E/E [%]'])} %"
                     for method, row in table.iterrows())


def resolution_numbers(table, methods=None):
    """{(method, number): (value, error)} of a ``resolution_table``: sigma_x, sigma_y and
    sigma_E/E of each method (all, or ``methods``), as ``seeds.seed_spread`` collects them."""
    numbers = {}
    for method, row in table.iterrows():
        if methods is None or method in methods:
            for name in ("sigma_x [mm]", "sigma_y [mm]", "sigma_E/E [%]"):
                numbers[(method, name)] = (row[name], row[f"error {name}"])
    return numbers


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


# -- template fits: signal yield and efficiency in "data" (the photon-ID study) ----------------
def bernstein_cdf(x, coefficients, low, high):
    """Expected counts below ``x`` of the background density sum_k c_k (n+1) B_kn(u),
    u = (x - low) / (high - low), with B_kn the Bernstein basis of degree n = len(c) - 1.

    Each (n+1) B_kn integrates to one over [low, high], so c_k >= 0 are yields: the
    density is positive and the total background is sum_k c_k. The integral of B_kn is
    (1/(n+1)) sum_{j>k} B_j,n+1, the regularised incomplete beta function I_u(k+1, n-k+1).
    """
    n = len(coefficients) - 1
    u = np.clip((np.asarray(x, float) - low) / (high - low), 0.0, 1.0)
    return sum(c * betainc(k + 1, n - k + 1, u) for k, c in enumerate(coefficients))


@dataclass
class YieldFit:
    """Extended binned fit of signal template + Bernstein background: the signal yield in
    the whole range and in ``window``, with HESSE errors (template statistics included)."""
    signal: float
    signal_error: float
    window_signal: float
    window_error: float
    background: np.ndarray  # Bernstein coefficients, or the control template's one yield
    valid: bool
    minuit: object = None
    background_counts: np.ndarray = None  # the fitted background per bin


def fit_signal_yield(counts, edges, signal_template, degree=2, window=(80.0, 100.0), background_template=None):
    """Fit histogram ``counts`` (bins ``edges``) with the signal template (simulated counts
    in the same bins) plus a background: the control-sample counts ``background_template``
    where given, else a degree-``degree`` Bernstein polynomial. The templates' finite
    statistics enter through iminuit's ``cost.Template`` (Conway's Barlow-Beeston-lite
    method); every yield is non-negative."""
    counts, edges = np.asarray(counts, float), np.asarray(edges, float)
    signal_template = np.asarray(signal_template, float)
    if counts.shape != (len(edges) - 1,) or signal_template.shape != counts.shape or (
            background_template is not None and np.shape(background_template) != counts.shape):
        raise ParameterError(f"histogram, templates and edges disagree: {counts.shape}, {signal_template.shape}, "
                             f"{len(edges)} edges")
    if counts.sum() <= 0:
        raise EmptyDatasetError("the histogram to fit has no events")
    if signal_template.sum() <= 0:
        raise EmptyDatasetError("the signal template has no events")
    low, high = edges[0], edges[-1]
    if background_template is not None:
        background_template = np.asarray(background_template, float)
        if background_template.sum() <= 0:
            raise EmptyDatasetError("the background template has no events")
        names, model = ["background"], background_template
    else:
        names = [f"b{k}" for k in range(degree + 1)]

        def model(x, *coefficients):
            return bernstein_cdf(x, coefficients, low, high)

        model.__signature__ = _signature(["x"] + names)
    # Conway's method (Barlow-Beeston lite): the "da" method divides by the template variance,
    # which is zero in empty template bins when the template is mixed with a parametric model
    cost = Template(counts, edges, [signal_template, model], name=["signal"] + names, method="jsc")
    total = counts.sum()
    m = Minuit(cost, signal=0.5 * total, **{name: 0.5 * total / len(names) for name in names})
    for name in ["signal"] + names:
        m.limits[name] = (0, None)
    m.migrad()
    m.hesse()
    centres = 0.5 * (edges[1:] + edges[:-1])
    in_window = (centres >= window[0]) & (centres < window[1])
    fraction = signal_template[in_window].sum() / signal_template.sum()
    yields = np.array([m.values[n] for n in names])
    per_bin = (yields[0] * background_template / background_template.sum() if background_template is not None
               else np.diff(bernstein_cdf(edges, yields, low, high)))
    return YieldFit(m.values["signal"], m.errors["signal"], fraction * m.values["signal"],
                    fraction * m.errors["signal"],
                    yields, bool(m.valid), m, per_bin)


def _signature(names):

    return inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])


def template_efficiency(pass_counts, fail_counts, edges, signal_template, degree=2, window=(80.0, 100.0),
                        background_template=None):
    """Identification efficiency from data: eps = P / (P + F), the fitted signal in the
    window after the ID (pass) over before (pass + fail). Pass and fail are independent
    samples, so sigma^2 = (F sigma_P)^2 + (P sigma_F)^2, over (P + F)^4. The background
    of each fit is ``fit_signal_yield``'s: a polynomial, or with ``background_template``
    = (passing, failing) the control sample's counts after the same ID.
    Returns (eps, sigma, pass fit, fail fit)."""
    pass_background, fail_background = background_template if background_template is not None else (None, None)
    passed = fit_signal_yield(pass_counts, edges, signal_template, degree, window, pass_background)
    failed = fit_signal_yield(fail_counts, edges, signal_template, degree, window, fail_background)
    p, f = passed.window_signal, failed.window_signal
    if p + f <= 0:
        raise EmptyDatasetError("no signal found before the identification: the efficiency is undefined")
    error = np.hypot(f * passed.window_error, p * failed.window_error) / (p + f) ** 2
    return p / (p + f), error, passed, failed
