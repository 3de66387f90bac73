"""Classifier performance: scores, ROC curves, working points, confusion matrices; and the
errors of the simple statistics a table quotes (mean, median, correlation), and whether a
measured difference lies within a tolerance.

Contents: ``WORKING_POINTS``, ``signal_score``, ``binomial_error``, ``mean_and_error``,
``mean_columns``, ``median_and_error``, ``correlation_and_error``, ``pull``, ``tolerance_verdict``,
``Rejection``, ``rejection``, ``poisson_interval``, ``WorkingPoint``, ``round_to_error``,
``significant``, ``working_point``, ``RejectionRatio``, ``rejection_ratio``, ``roc_curve``,
``auc``, ``auc_error``, ``confusion_matrix``, ``efficiency_in_bins``, ``match_photons``,
``photon_residuals``, ``ThresholdSummary``, ``best_threshold``, ``id_comparison_in_bins``.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import chi2

from .errors import EmptyDatasetError

#: Signal efficiencies of the photon-jet study's working-point table.
WORKING_POINTS = (0.90, 0.95, 0.99, 0.995)


def signal_score(logits, signal_class=-1):
    """log(p_s / (1 - p_s)) from multi-class logits: the signal probability's
    ordering without the float saturation of softmax near 1."""
    logits = np.asarray(logits, dtype=np.float64)
    signal = logits[:, signal_class]
    others = np.delete(logits, np.arange(logits.shape[1])[signal_class], axis=1)
    return signal - logsumexp(others, axis=1)


def binomial_error(fraction, n):
    """Test-sample error of a fraction of ``n`` events: sqrt(p (1 - p) / n); NaN for n = 0.
    A float for one fraction, an array for several."""
    fraction, n = np.asarray(fraction, float), np.asarray(n, float)
    error = np.where(n > 0, np.sqrt(fraction * (1 - fraction) / np.maximum(n, 1)), np.nan)
    return float(error) if error.ndim == 0 else error


def mean_and_error(values):
    """The mean of ``values`` and its standard error sigma / sqrt(n) (sample sigma, ddof =
    1), NaNs left out; (NaN, NaN) for no value, error NaN for one."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.nan, np.nan
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else np.nan


def mean_columns(values_by_name, statistic=mean_and_error):
    """{name: mean, "name error": its error} for each array of ``values_by_name`` (or
    another ``statistic``, such as ``median_and_error``): a table row that
    ``reporting.with_errors(table, "{} error")`` shows as ``value ± error``."""
    row = {}
    for name, values in values_by_name.items():
        row[name], row[f"{name} error"] = statistic(values)
    return row


def median_and_error(values):
    """The median of ``values`` and half the width of its distribution-free 68 % interval:
    the order statistics of ranks n/2 -+ sqrt(n)/2 (the number of values below the true
    median is binomial(n, 1/2)), so no shape is assumed; NaNs left out."""
    values = np.sort(np.asarray(values, float))
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return np.nan, np.nan
    low, high = (int(np.clip(np.round(n / 2 + k * np.sqrt(n) / 2), 0, n - 1)) for k in (-1, 1))
    return float(np.median(values)), float(values[high] - values[low]) / 2 if n > 1 else np.nan


def correlation_and_error(x, y):
    """Pearson's r of ``x`` and ``y`` and its error (1 - r^2) / sqrt(n - 1), the
    large-sample error of a correlation coefficient of bivariate normal data."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return np.nan, np.nan
    r = float(np.corrcoef(x, y)[0, 1])
    return r, (1 - r**2) / np.sqrt(x.size - 1)


def pull(value, error, reference, reference_error):
    """(value - reference) / sqrt(error^2 + reference_error^2): how many combined errors
    two independent measurements differ by; beyond 2, a page calls them different."""
    return (value - reference) / np.hypot(error, reference_error)


def tolerance_verdict(difference, error, tolerance, n_sigma=2.0):
    """Whether a measured ``difference`` lies within ``tolerance`` of zero: "within" when
    |d| + n_sigma error <= tolerance, "beyond" when |d| - n_sigma error > tolerance, else
    "not resolved" (the test sample is too small to tell)."""
    if abs(difference) + n_sigma * error <= tolerance:
        return "within"
    if abs(difference) - n_sigma * error > tolerance:
        return "beyond"
    return "not resolved"


@dataclass(frozen=True)
class Rejection:
    """Background rejection R = 1 / eps_b of a selection that ``n_pass`` of ``n``
    background events pass, with sigma(R) = sigma(eps_b) / eps_b^2. When none passes
    there is no value (NaN) but a lower bound, R > n, and it reads "> n"."""
    n: int
    n_pass: int

    @property
    def value(self):
        return self.n / self.n_pass if self.n_pass else np.nan

    @property
    def error(self):
        eff = self.n_pass / self.n
        return float(binomial_error(eff, self.n)) / eff**2 if self.n_pass else np.nan

    @property
    def lower_bound(self):
        """What a plot can show: the value, or n where none passes (drawn as a bound)."""
        return self.value if self.n_pass else float(self.n)

    def __str__(self):
        return round_to_error(self.value, self.error) if self.n_pass else f"> {self.n}"


def rejection(background_passes):
    """The ``Rejection`` of a selection from the background events' pass flags."""
    passes = np.asarray(background_passes, bool)
    if passes.size == 0:
        raise EmptyDatasetError("a rejection needs background events")
    return Rejection(int(passes.size), int(passes.sum()))


def poisson_interval(count, confidence=0.6827):
    """Garwood's central interval (lower, upper) on a Poisson mean from ``count`` events:
    chi2_(1-cl)/2(2k)/2 and chi2_(1+cl)/2(2k + 2)/2 (lower 0 for k = 0). A rejection that
    rests on k passing background events of N lies in N / upper .. N / lower."""
    tail = (1 - confidence) / 2
    lower = chi2.ppf(tail, 2 * count) / 2 if count > 0 else 0.0
    return float(lower), float(chi2.ppf(1 - tail, 2 * count + 2) / 2)


@dataclass
class WorkingPoint:
    """Background rejection 1/eps_b at a target signal efficiency.

    ``rejection`` is NaN (shown as N/A) when the test statistics cannot reach the
    point: no background event passes, or ties in the score make the achieved
    signal efficiency miss the target by more than ``tolerance``.
    """
    target: float
    threshold: float
    signal_efficiency: float
    background_efficiency: float
    n_background: int
    n_background_pass: int
    rejection: float
    rejection_error: float

    def __str__(self):
        if np.isnan(self.rejection):
            return "N/A" if self.n_background_pass else f"N/A (> {self.n_background})"
        return round_to_error(self.rejection, self.rejection_error)


def _decimal_place(error, digits):
    """The decimal place (10**place) of the last of ``digits`` significant figures of ``error``."""
    return int(np.floor(np.log10(abs(error)))) - (digits - 1)


def _at_place(value, place):
    return f"{round(value, -place):.{max(-place, 0)}f}"


def round_to_error(value, error, digits=2):
    """``"value ± error"``, the error to ``digits`` significant figures and the value to
    the same decimal place (464.9 ± 131 -> "460 ± 130"); no error: the value to 4 figures."""
    value, error = float(value), float(error)  # numpy scalars and 0-d arrays (binomial_error) alike
    if not (np.isfinite(error) and error > 0):
        return f"{value:.4g}"
    place = _decimal_place(error, digits)
    return f"{_at_place(value, place)} ± {_at_place(error, place)}"


def significant(value, digits=2):
    """``value`` to ``digits`` significant figures, trailing zeros kept (0.030, 12, 460): how
    a spread or an error is quoted on its own."""
    value = float(value)
    if not np.isfinite(value) or value == 0:
        return f"{value:g}"
    return _at_place(value, _decimal_place(value, digits))


def working_point(signal_scores, background_scores, target, tolerance=0.01):
    """Cut score >= threshold keeping a fraction ``target`` of the signal.

    Binomial uncertainty: sigma(eps_b) = sqrt(eps_b (1 - eps_b) / N_b), and
    sigma(R) = sigma(eps_b) / eps_b^2 for the rejection R = 1 / eps_b.
    """
    signal_scores, background_scores = np.asarray(signal_scores), np.asarray(background_scores)
    if signal_scores.size == 0 or background_scores.size == 0:
        raise EmptyDatasetError("a working point needs signal and background events")
    ordered = np.sort(signal_scores)[::-1]
    threshold = ordered[max(int(np.ceil(target * ordered.size)) - 1, 0)]
    eff_s = np.mean(signal_scores >= threshold)
    n_pass = int(np.sum(background_scores >= threshold))
    n_b = background_scores.size
    eff_b = n_pass / n_b
    # with 84 signal events, 1 - 0.99 is 0.010000000000000009: within 0.01, not beyond it
    reachable = n_pass > 0 and abs(eff_s - target) <= tolerance * (1 + 1e-9)
    rejection = 1.0 / eff_b if reachable else np.nan
    error = float(binomial_error(eff_b, n_b)) / eff_b**2 if reachable else np.nan
    return WorkingPoint(target, float(threshold), float(eff_s), eff_b, n_b, n_pass, rejection, error)


class RejectionRatio(NamedTuple):
    """The ratio of two measured rejections and its error; NaN where either was not measured."""
    value: float
    error: float

    def __str__(self):
        return "not measured" if np.isnan(self.value) else round_to_error(self.value, self.error)


def rejection_ratio(numerator, denominator):
    """``RejectionRatio`` of two measured rejections (``WorkingPoint``s of independent test
    samples): R1 / R2 with sigma = ratio * sqrt((s1 / R1)^2 + (s2 / R2)^2)."""
    a, b = numerator, denominator
    if not (np.isfinite(a.rejection) and np.isfinite(b.rejection) and b.rejection > 0):
        return RejectionRatio(float("nan"), float("nan"))
    ratio = a.rejection / b.rejection
    return RejectionRatio(ratio, ratio * float(np.hypot(a.rejection_error / a.rejection,
                                                        b.rejection_error / b.rejection)))


def roc_curve(signal_scores, background_scores):
    """(signal efficiency, background efficiency, thresholds), scikit-learn's ROC."""
    from sklearn.metrics import roc_curve as sk_roc  # scikit-learn costs a second: imported where a ROC is drawn

    y = np.concatenate([np.ones(len(signal_scores)), np.zeros(len(background_scores))])
    fpr, tpr, thresholds = sk_roc(y, np.concatenate([signal_scores, background_scores]))
    return tpr, fpr, thresholds


def auc(signal_scores, background_scores):
    from sklearn.metrics import roc_auc_score  # as in roc_curve

    y = np.concatenate([np.ones(len(signal_scores)), np.zeros(len(background_scores))])
    return float(roc_auc_score(y, np.concatenate([signal_scores, background_scores])))


def auc_error(area, n_signal, n_background):
    """Test-sample error of an AUC (Hanley & McNeil 1982, Radiology 143, 29):
    sigma^2 = [A (1 - A) + (n_s - 1)(Q1 - A^2) + (n_b - 1)(Q2 - A^2)] / (n_s n_b),
    Q1 = A / (2 - A), Q2 = 2 A^2 / (1 + A)."""
    q1, q2 = area / (2 - area), 2 * area**2 / (1 + area)
    variance = (area * (1 - area) + (n_signal - 1) * (q1 - area**2) + (n_background - 1) * (q2 - area**2))
    return float(np.sqrt(max(variance, 0.0) / (n_signal * n_background)))


def confusion_matrix(labels, predicted, n_classes):
    """Row-normalised confusion matrix: entry (i, j) = P(predicted j | true i)."""
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (labels, predicted), 1)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def efficiency_in_bins(values, passed, edges):
    """Fraction passing in bins of ``values``, with binomial errors: (centres, eff, err)."""
    index = np.digitize(values, edges) - 1
    inside = (index >= 0) & (index < len(edges) - 1)
    n = np.bincount(index[inside], minlength=len(edges) - 1)
    k = np.bincount(index[inside], weights=passed[inside].astype(float), minlength=len(edges) - 1)
    eff = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    err = binomial_error(eff, n)
    return 0.5 * (edges[1:] + edges[:-1]), eff, err


def match_photons(prediction, truth):
    """Order each cluster's predicted photons (clusters, photons, [x, y, ...]) like the
    true ones: for two photons, the ordering with the smaller summed distance."""
    prediction, truth = np.asarray(prediction), np.asarray(truth)
    if prediction.shape[1] == 1:
        return prediction

    def distance(a, b):
        return np.hypot(*(a[:, :2] - b[:, :2]).T)

    direct = distance(prediction[:, 0], truth[:, 0]) + distance(prediction[:, 1], truth[:, 1])
    crossed = distance(prediction[:, 1], truth[:, 0]) + distance(prediction[:, 0], truth[:, 1])
    return np.where((crossed < direct)[:, None, None], prediction[:, ::-1], prediction)


def photon_residuals(prediction, truth):
    """{"x": mm, "y": mm, "e": E/E_true - 1}, flat over photons, after matching."""
    prediction = match_photons(prediction, truth)
    return {"x": (prediction[..., 0] - truth[..., 0]).ravel(), "y": (prediction[..., 1] - truth[..., 1]).ravel(),
            "e": (prediction[..., 2] / truth[..., 2] - 1).ravel()}


@dataclass
class ThresholdSummary:
    """Performance of the cut score >= ``threshold`` (the original's evaluation)."""
    threshold: float
    accuracy: float
    signal_acceptance: float
    background_rejection: float  # fraction of background below the cut
    purity: float  # signal fraction among the events that pass


def best_threshold(signal_scores, background_scores):
    """The cut on the score that minimises the number of misclassified events, with
    accuracy, signal acceptance, background rejection and purity there."""
    signal_scores, background_scores = np.asarray(signal_scores), np.asarray(background_scores)
    if len(signal_scores) == 0 or len(background_scores) == 0:
        raise EmptyDatasetError("a threshold needs both signal and background events")
    candidates = np.unique(np.concatenate([signal_scores, background_scores]))
    signal_sorted, background_sorted = np.sort(signal_scores), np.sort(background_scores)
    signal_lost = np.searchsorted(signal_sorted, candidates, side="left")  # signal below the cut
    background_passing = len(background_sorted) - np.searchsorted(background_sorted, candidates, side="left")
    best = int(np.argmin(signal_lost + background_passing))
    n_s, n_b = len(signal_scores), len(background_scores)
    accepted, passing = n_s - signal_lost[best], background_passing[best]
    return ThresholdSummary(float(candidates[best]), 1 - (signal_lost[best] + passing) / (n_s + n_b), accepted / n_s,
                            1 - passing / n_b, accepted / max(accepted + passing, 1))


def id_comparison_in_bins(values, edges, is_signal, score, cut_pass, min_events=20):
    """A classifier against a cut-based ID in bins of ``values`` (E_T, |eta|): per bin the
    events of each class, the classifier's AUC, the cut-based ID's signal efficiency and
    background rejection 1/eps_b (NaN where no background event passes the cuts: then it
    is only known to exceed the bin's background count), and the classifier's rejection
    at that same signal efficiency (``working_point``) and its ratio to the cuts', each
    with its test-sample error.

    The ratio is n_cuts / n_classifier, the counts of the same background events passing
    each selection, so the two are correlated through the n_both events that pass both:
    var(ln ratio) = 1/n_cuts + 1/n_classifier - 2 n_both / (n_cuts n_classifier), the
    multinomial delta method (its 1/N terms cancel), at the working point the signal set,
    as every rejection's error here; ``rejection_ratio`` would treat them as independent.
    Bins with fewer than ``min_events`` of a class are left out."""
    values, is_signal = np.asarray(values, float), np.asarray(is_signal, bool)
    score, cut_pass = np.asarray(score, float), np.asarray(cut_pass, bool)
    index = np.digitize(values, edges) - 1
    rows = []
    for b in range(len(edges) - 1):
        s, bkg = (index == b) & is_signal, (index == b) & ~is_signal
        if s.sum() < min_events or bkg.sum() < min_events:
            continue
        eff_s, cut = cut_pass[s].mean(), rejection(cut_pass[bkg])
        point = working_point(score[s], score[bkg], eff_s, tolerance=0.02)
        area = auc(score[s], score[bkg])
        n_classifier = point.n_background_pass
        n_both = int(np.sum(cut_pass[bkg] & (score[bkg] >= point.threshold)))
        ratio = point.rejection / cut.value if cut.n_pass else np.nan
        ratio_error = ratio * np.sqrt(max(1 / cut.n_pass + 1 / n_classifier - 2 * n_both / (cut.n_pass * n_classifier),
                                          0.0)) if ratio == ratio else np.nan
        rows.append({"bin": f"{edges[b]:g}-{edges[b + 1]:g}", "signal": int(s.sum()), "background": int(bkg.sum()),
                     "AUC": area, "AUC error": auc_error(area, s.sum(), bkg.sum()),
                     "cut efficiency": eff_s, "cut efficiency error": float(binomial_error(eff_s, s.sum())),
                     "background passing the cuts": cut.n_pass, "cut rejection": cut.value,
                     "cut rejection error": cut.error,
                     "classifier rejection": point.rejection, "classifier rejection error": point.rejection_error,
                     "rejection ratio": ratio, "rejection ratio error": ratio_error})
    if not rows:
        raise EmptyDatasetError(f"no bin of {list(edges)} holds {min_events} events of each class")
    return pd.DataFrame(rows).set_index("bin")
