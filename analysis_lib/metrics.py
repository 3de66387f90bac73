"""Classifier performance: scores, ROC curves, working points, confusion matrices; and the
errors of the simple statistics a table quotes (mean, median, correlation), and whether a
measured difference lies within a tolerance.

Contents: ``WORKING_POINTS``, ``signal_score``, ``binomial_error``, ``mean_and_error``,
``mean_columns``, ``median_and_error``, ``correlation_and_error``, ``pull``,
``paired_accuracy_difference``, ``paired_bootstrap``, ``tolerance_verdict``, ``non_inferiority``,
``Rejection``, ``rejection``, ``poisson_interval``, ``WorkingPoint``, ``round_to_error``, ``significant``,
``interval_text``, ``working_point``, ``RejectionRatio``, ``rejection_ratio``,
``paired_rejection_ratio``, ``roc_curve``, ``auc``, ``auc_error``, ``auc_difference``,
``confusion_matrix``, ``efficiency_in_bins``, ``match_photons``, ``photon_residuals``,
``ThresholdSummary``, ``best_threshold``, ``summary_at``, ``id_comparison_in_bins``.

What to use when (every interval is 68 %; tests/test_intervals.py checks each one's coverage
on toys with a known truth):

* a rejection at a signal efficiency: ``working_point`` (the threshold's fluctuation from the
  signal sample and Garwood's interval for the passing background); of a fixed cut menu:
  ``rejection``; a published one from its event count: ``poisson_interval``;
* two numbers from **independent** samples (ours against a published one, two test samples):
  ``pull``, ``rejection_ratio``;
* two numbers from the **same** events: ``auc_difference`` (DeLong), ``paired_rejection_ratio``,
  ``paired_accuracy_difference`` (McNemar), anything else through ``paired_bootstrap``;
* "no effect", "as good as", "reaches the published value": ``tolerance_verdict`` against a
  stated tolerance, never a difference that merely is not significant; "at least as good":
  ``non_inferiority`` against a stated margin.
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
    At p = 0 or 1, where that formula gives 0 (none, or all, of 5 events passing says little),
    the distance to the far edge of the Clopper-Pearson central 68 % interval instead,
    1 - 0.1587^(1/n). A float for one fraction, an array for several."""
    fraction, n = np.asarray(fraction, float), np.asarray(n, float)
    safe_n = np.maximum(n, 1)
    wald = np.sqrt(fraction * (1 - fraction) / safe_n)
    edge = 1 - ((1 - 0.6827) / 2) ** (1 / safe_n)
    at_edge = (fraction * safe_n < 0.5) | ((1 - fraction) * safe_n < 0.5)
    error = np.where(n > 0, np.where(at_edge, edge, wald), np.nan)
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
    two **independent** measurements differ by (other samples, or a published number);
    beyond 2, a page calls them different. Two measurements on the same events are
    correlated and need a paired error: ``auc_difference``, ``paired_rejection_ratio``,
    ``paired_accuracy_difference``, ``paired_bootstrap``."""
    return (value - reference) / np.hypot(error, reference_error)


def paired_accuracy_difference(correct_a, correct_b):
    """Accuracy of a minus accuracy of b on the **same** events (boolean arrays: event i
    classified correctly) and its error from the discordant events only (McNemar): with
    n_ab events right for a alone and n_ba for b alone, d = (n_ab - n_ba) / n and
    sigma^2 = (n_ab + n_ba - (n_ab - n_ba)^2 / n) / n^2. Events both get right or both get
    wrong carry no information on the difference, which quadrature of two binomial errors
    ignores."""
    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if correct_a.shape != correct_b.shape or correct_a.size == 0:
        raise EmptyDatasetError("a paired accuracy difference needs the same, non-empty set of events for both")
    n = correct_a.size
    only_a, only_b = np.sum(correct_a & ~correct_b), np.sum(~correct_a & correct_b)
    difference = (only_a - only_b) / n
    return float(difference), float(np.sqrt(max(only_a + only_b - n * difference**2, 0.0)) / n)


def paired_bootstrap(statistic, n_events, replicas=400, seed=0):
    """The spread of ``statistic(indices)`` over bootstrap resamples of ``n_events`` shared
    events (the same indices for every quantity the statistic compares, so what is common to
    them cancels): (replica values, their standard deviation). For a difference of two
    resolutions, of a network and of the fit on the same clusters, say, where no formula
    for the correlation exists. A fixed ``seed`` keeps a page's numbers reproducible."""
    if n_events < 2:
        raise EmptyDatasetError(f"a bootstrap needs at least two events, not {n_events}")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n_events, n_events)) for _ in range(replicas)], float)
    return values, float(np.std(values[np.isfinite(values)], ddof=1))


def tolerance_verdict(difference, error, tolerance, n_sigma=2.0):
    """Whether a measured ``difference`` lies within ``tolerance`` of zero: "within" when
    |d| + n_sigma error <= tolerance, "beyond" when |d| - n_sigma error > tolerance, else
    "not resolved" (the test sample is too small to tell)."""
    if abs(difference) + n_sigma * error <= tolerance:
        return "within"
    if abs(difference) - n_sigma * error > tolerance:
        return "beyond"
    return "not resolved"


def non_inferiority(difference, error, margin, n_sigma=2.0):
    """Whether a method is "at least as good" as a reference, by ``difference`` = how much
    worse it is (positive: worse) against a stated ``margin``: "not worse" when
    d + n_sigma error <= margin, "worse" when d - n_sigma error > margin, else "not resolved".
    One-sided, unlike ``tolerance_verdict``: a method far better than the reference is "not
    worse", not "beyond"."""
    if difference + n_sigma * error <= margin:
        return "not worse"
    if difference - n_sigma * error > margin:
        return "worse"
    return "not resolved"


@dataclass(frozen=True)
class Rejection:
    """Background rejection R = 1 / eps_b of a fixed selection (a cut menu: nothing in it is
    tuned on the test events) that ``n_pass`` of ``n`` background events pass. ``interval``
    is Garwood's central 68 % interval, N / upper .. N / lower of ``poisson_interval(n_pass)``,
    asymmetric at small counts; ``error`` the binomial sigma(R) = sigma(eps_b) / eps_b^2 that a
    pull uses where counts are large. When none passes there is no value (NaN), only the
    bound R > n / 1.84 at 84 % confidence (the interval's lower edge), read "> bound (84 % CL)".
    """
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
    def interval(self):
        low, high = poisson_interval(self.n_pass)
        return self.n / high, (self.n / low if low > 0 else np.inf)

    @property
    def lower_bound(self):
        """What a plot can show: the value, or the 84 % bound where none passes."""
        return self.value if self.n_pass else self.interval[0]

    def __str__(self):
        return interval_text(self.value, *self.interval, error=self.error)


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
    """Background rejection 1/eps_b at a target signal efficiency, with its 68 % ``interval``
    (lower, upper) from both test samples (``working_point`` says how) and ``rejection_error``,
    its symmetric large-count equivalent, which a pull of two independent samples uses.

    ``rejection`` is NaN when the test statistics cannot reach the point: no background event
    passes (then ``interval`` is (bound, inf), the bound at 84 % confidence), or ties in the
    score make the achieved signal efficiency miss the target by more than ``tolerance``
    (then ``interval`` is (NaN, NaN) and it reads N/A).
    """
    target: float
    threshold: float
    signal_efficiency: float
    background_efficiency: float
    n_background: int
    n_background_pass: int
    rejection: float
    rejection_error: float
    interval: tuple = (np.nan, np.nan)

    def __str__(self):
        if np.isnan(self.interval[0]):
            return "N/A"
        return interval_text(self.rejection, *self.interval, error=self.rejection_error)


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


def _threshold(ordered_descending, efficiency):
    """The cut score >= t that keeps at least a fraction ``efficiency`` of the scores (sorted,
    largest first; the last axis for several samples at once): the ceil(efficiency n)-th
    highest score, the tightest such cut, as the original's evaluation takes it."""
    n = ordered_descending.shape[-1]
    index = np.clip(np.ceil(np.asarray(efficiency) * n).astype(int) - 1, 0, n - 1)
    return np.take(ordered_descending, index, axis=-1)


def interval_text(value, lower, upper, error=None, asymmetry=0.25):
    """A measured value with its 68 % interval as a table shows it: ``"value ± error"`` (the
    error to two figures, ``round_to_error``) where the interval is symmetric, else the value
    and its interval, each to two significant figures, ``"18000 (5500–100000)"``, so a small
    count never reads ``6000 ± 6000``. Symmetric means the two half-widths differ by less than
    ``asymmetry`` of the larger; ``error`` (default: the mean half-width) is what is shown then.
    No value but a lower edge: ``"> 9700 (84 % CL)"``; nothing: ``"N/A"``."""
    value, lower, upper = float(value), float(lower), float(upper)
    if not np.isfinite(value):
        return f"> {significant(lower)} (84 % CL)" if np.isfinite(lower) else "N/A"
    down, up = value - lower, upper - value
    if np.isfinite(up) and abs(up - down) <= asymmetry * max(up, down):
        return round_to_error(value, (up + down) / 2 if error is None else error)
    upper_text = significant(upper) if np.isfinite(upper) else "∞"
    return f"{significant(value)} ({significant(lower)}–{upper_text})"


def working_point(signal_scores, background_scores, target, tolerance=0.01, confidence=0.6827):
    """Cut score >= threshold keeping a fraction ``target`` of the signal, and the background
    rejection R = N_b / k there (k of N_b background events pass).

    Two samples make R fluctuate, and ``interval`` holds both (68 %, as ``confidence``):

    * the background sample: k is Poisson around its mean mu at a fixed threshold, with
      Garwood's interval [k_lo, k_hi] (``poisson_interval``), asymmetric at small k;
    * the signal sample: the threshold is a quantile of N_s signal scores, whose true signal
      efficiency scatters by sigma_s = sqrt(eps_s (1 - eps_s) / N_s). The background mean
      moves by d = (k(eps_s - sigma_s) - k(eps_s + sigma_s)) / 2, half the background events
      between the thresholds at eps_s -+ sigma_s: the ROC curve's slope times sigma_s,
      measured on the test events rather than from a model of the densities.

    The count's interval is k - sqrt((k - k_lo)^2 + d^2) .. k + sqrt((k_hi - k)^2 + d^2), and
    R's is N_b / upper .. N_b / lower (no upper edge where the lower count reaches zero).
    ``rejection_error`` = R sqrt(k + d^2) / k is the same at large counts, symmetric. The
    binomial error of eps_b alone, at a threshold taken as exact, covers the truth in 18 % of
    toys where the signal sample is the smaller one (N(3, 1) against N(0, 1), 3 000 against
    60 000 events, tests/test_intervals.py).
    """
    signal_scores, background_scores = np.asarray(signal_scores), np.asarray(background_scores)
    if signal_scores.size == 0 or background_scores.size == 0:
        raise EmptyDatasetError("a working point needs signal and background events")
    ordered = np.sort(signal_scores)[::-1]
    threshold = _threshold(ordered, target)
    eff_s = np.mean(signal_scores >= threshold)
    background = np.sort(background_scores)
    n_b = background.size

    def passing(cut):
        return n_b - np.searchsorted(background, cut, side="left")

    n_pass = int(passing(threshold))
    eff_b = n_pass / n_b
    # with 84 signal events, 1 - 0.99 is 0.010000000000000009: within 0.01, not beyond it
    if abs(eff_s - target) > tolerance * (1 + 1e-9):
        return WorkingPoint(target, float(threshold), float(eff_s), eff_b, n_b, n_pass, np.nan, np.nan)
    sigma_s = np.sqrt(target * (1 - target) / ordered.size)
    tight, loose = _threshold(ordered, [max(target - sigma_s, 0.0), min(target + sigma_s, 1.0)])
    spread = (passing(loose) - passing(tight)) / 2
    k_low, k_high = poisson_interval(n_pass, confidence)
    low_count = n_pass - np.hypot(n_pass - k_low, spread)
    high_count = n_pass + np.hypot(k_high - n_pass, spread)
    interval = (n_b / high_count, n_b / low_count if low_count > 0 else np.inf)
    if n_pass == 0:
        return WorkingPoint(target, float(threshold), float(eff_s), 0.0, n_b, 0, np.nan, np.nan, interval)
    rejection = 1.0 / eff_b
    error = rejection * np.sqrt(n_pass + spread**2) / n_pass
    return WorkingPoint(target, float(threshold), float(eff_s), eff_b, n_b, n_pass, rejection, float(error), interval)


class RejectionRatio(NamedTuple):
    """The ratio of two measured rejections, its error and its 68 % interval; NaN where either
    was not measured. Shown as ``interval_text`` shows a rejection."""
    value: float
    error: float
    lower: float = np.nan
    upper: float = np.nan

    def __str__(self):
        if np.isnan(self.value):
            return "not measured"
        return interval_text(self.value, self.lower, self.upper)

    def _log_half_widths(self):
        """(below, above): the interval's half-widths in ln R, below infinite where the lower
        edge is 0; None where the ratio was not measured."""
        if not (np.isfinite(self.value) and self.value > 0):
            return None
        below = np.log(self.value / self.lower) if self.lower > 0 else np.inf
        return below, np.log(self.upper / self.value)

    def within_factor(self, factor, n_sigma=2.0):
        """``metrics.tolerance_verdict`` of the ratio against "equal within ``factor``", in ln R:
        "within" where the ratio's interval widened to ``n_sigma`` errors lies inside
        [1 / factor, factor], "beyond" where it lies wholly outside, else "not resolved"."""
        widths = self._log_half_widths()
        if widths is None:
            return "not resolved"
        centre, bound = np.log(self.value), np.log(factor)
        low, high = centre - n_sigma * widths[0], centre + n_sigma * widths[1]
        if -bound <= low and high <= bound:
            return "within"
        if low > bound or high < -bound:
            return "beyond"
        return "not resolved"

    def errors_from(self, reference=1.0):
        """How many of its errors the ratio lies above (+) or below (-) ``reference``, in ln R
        with the interval's half-width on the side facing the reference (asymmetric
        intervals stay honest on both sides); NaN where not measured."""
        widths = self._log_half_widths()
        if widths is None:
            return float("nan")
        away = np.log(self.value / reference)
        return 0.0 if away == 0 else float(away / widths[0 if self.value >= reference else 1])


def rejection_ratio(numerator, denominator):
    """``RejectionRatio`` of two rejections measured on **independent** test samples
    (``WorkingPoint``s): R1 / R2, its 68 % interval from the two intervals combined in ln R,
    side by side (the lower edge from R1's lower and R2's upper half-width), and
    sigma = ratio * sqrt((s1 / R1)^2 + (s2 / R2)^2). Two classifiers, readouts or guns on the
    same events: ``paired_rejection_ratio``."""
    a, b = numerator, denominator
    if not (np.isfinite(a.rejection) and np.isfinite(b.rejection) and b.rejection > 0):
        return RejectionRatio(float("nan"), float("nan"))
    ratio = a.rejection / b.rejection
    error = ratio * float(np.hypot(a.rejection_error / a.rejection, b.rejection_error / b.rejection))
    with np.errstate(divide="ignore"):
        down = np.hypot(np.log(a.rejection / a.interval[0]), np.log(b.interval[1] / b.rejection))
        up = np.hypot(np.log(a.interval[1] / a.rejection), np.log(b.rejection / b.interval[0]))
    return RejectionRatio(ratio, error, float(ratio * np.exp(-down)), float(ratio * np.exp(up)))


def paired_rejection_ratio(signal_a, background_a, signal_b, background_b, target=0.90, replicas=400, seed=0):
    """``RejectionRatio`` R_a / R_b of two scores of the **same** test events (two classifiers,
    or one classifier on two readouts of the same showers), entry i of each array being the
    same event. Their rejections share the events that pass both cuts and their thresholds
    the signal events, so the two fluctuate together and quadrature (``rejection_ratio``)
    overstates the error: a paired bootstrap resamples the signal events once for both
    thresholds, and the background as one multinomial draw over "passes both / only a / only
    b / neither" at those thresholds (what resampling the background events gives, without
    drawing them one by one). ``interval`` is the 16th-84th percentile of the replicas,
    ``error`` their spread in ln R scaled to the ratio; a fixed ``seed`` keeps a page's text
    the same from run to run."""
    signal_a, signal_b = np.asarray(signal_a, float), np.asarray(signal_b, float)
    background_a, background_b = np.asarray(background_a, float), np.asarray(background_b, float)
    if signal_a.shape != signal_b.shape or background_a.shape != background_b.shape:
        raise ValueError("a paired ratio needs the two scores of the same events: their lengths differ")
    a, b = working_point(signal_a, background_a, target), working_point(signal_b, background_b, target)
    if not (np.isfinite(a.rejection) and np.isfinite(b.rejection)):
        return RejectionRatio(float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, signal_a.size, size=(replicas, signal_a.size))
    cut_a = _threshold(-np.sort(-signal_a[drawn], axis=1), target)
    cut_b = _threshold(-np.sort(-signal_b[drawn], axis=1), target)
    ratios, n = np.empty(replicas), background_a.size
    for r in range(replicas):
        pass_a, pass_b = background_a >= cut_a[r], background_b >= cut_b[r]
        both, only_a, only_b = np.sum(pass_a & pass_b), np.sum(pass_a & ~pass_b), np.sum(~pass_a & pass_b)
        drawn_counts = rng.multinomial(n, np.array([both, only_a, only_b, n - both - only_a - only_b]) / n)
        k_a, k_b = drawn_counts[0] + drawn_counts[1], drawn_counts[0] + drawn_counts[2]
        ratios[r] = k_b / k_a if k_a else np.inf
    ratio = a.rejection / b.rejection
    lower, upper = np.percentile(ratios, [15.865, 84.135])
    logs = np.log(ratios[np.isfinite(ratios) & (ratios > 0)])
    return RejectionRatio(ratio, ratio * float(np.std(logs, ddof=1)), float(lower), float(upper))


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


def _delong_components(signal_scores, background_scores):
    """DeLong's structural components: for each signal event the fraction of background it
    outscores (ties half), for each background event the fraction of signal above it."""
    from scipy.stats import rankdata  # midranks count ties as half

    m, n = len(signal_scores), len(background_scores)
    both = np.concatenate([signal_scores, background_scores])
    ranks, ranks_signal, ranks_background = rankdata(both), rankdata(signal_scores), rankdata(background_scores)
    v10 = (ranks[:m] - ranks_signal) / n
    v01 = 1 - (ranks[m:] - ranks_background) / m
    return v10, v01


def auc_difference(signal_a, background_a, signal_b, background_b):
    """AUC of a minus AUC of b, two scores of the **same** test events, and DeLong's paired
    error (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44, 837): with V10, V01 each
    event's structural components (``_delong_components``),
    var = var(V10_a - V10_b) / m + var(V01_a - V01_b) / n over m signal and n background
    events. Two models that rank the same events alike have a difference far better
    measured than two ``auc_error``s in quadrature say (0.45-0.8 of it on the book's
    photon-jet models)."""
    arrays = [np.asarray(x, float) for x in (signal_a, background_a, signal_b, background_b)]
    if arrays[0].shape != arrays[2].shape or arrays[1].shape != arrays[3].shape:
        raise ValueError("a paired AUC difference needs the two scores of the same events: their lengths differ")
    if min(a.size for a in arrays) < 2:
        raise EmptyDatasetError("an AUC difference needs at least two signal and two background events")
    v10_a, v01_a = _delong_components(arrays[0], arrays[1])
    v10_b, v01_b = _delong_components(arrays[2], arrays[3])
    difference = v10_a.mean() - v10_b.mean()
    variance = np.var(v10_a - v10_b, ddof=1) / v10_a.size + np.var(v01_a - v01_b, ddof=1) / v01_a.size
    return float(difference), float(np.sqrt(variance))


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


def summary_at(signal_scores, background_scores, threshold):
    """``ThresholdSummary`` of the cut score >= ``threshold`` on these events: a cut chosen on
    other events (``best_threshold`` of a disjoint half) measured without its optimism."""
    signal_scores, background_scores = np.asarray(signal_scores), np.asarray(background_scores)
    if len(signal_scores) == 0 or len(background_scores) == 0:
        raise EmptyDatasetError("a threshold needs both signal and background events")
    accepted, passing = int(np.sum(signal_scores >= threshold)), int(np.sum(background_scores >= threshold))
    n_s, n_b = len(signal_scores), len(background_scores)
    return ThresholdSummary(float(threshold), (accepted + n_b - passing) / (n_s + n_b), accepted / n_s,
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
