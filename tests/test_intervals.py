"""Coverage of the library's 68 % intervals on toys with a known truth: each interval must
contain the true value in 68 % of toys, within the binomial spread of 300 toys (about
+-2.7 %), and the limits below leave room for the methods' approximations (the issue's
0.60-0.78 at large counts, 0.60-0.85 at a few passing events). A method that ignores part
of the randomness (the binomial error of eps_b at a threshold taken as exact) covers far
less, and the same toys show it."""

import numpy as np
import pytest
from scipy.stats import norm

from analysis_lib.metrics import (auc_difference, auc_error, interval_text, paired_accuracy_difference,
                                  paired_bootstrap, paired_rejection_ratio, rejection, working_point)

TOYS = 300


def true_rejection(signal_mean, target):
    """1 / eps_b at the cut keeping ``target`` of N(signal_mean, 1) signal, N(0, 1) background."""
    return 1 / norm.sf(signal_mean + norm.ppf(1 - target))


def covered(intervals, truth):
    intervals = np.asarray(intervals, float)
    return np.mean((intervals[:, 0] <= truth) & (truth <= intervals[:, 1]))


def test_a_working_points_interval_covers_the_true_rejection_where_the_signal_sample_is_small():
    """N(3, 1) against N(0, 1), 3 000 signal and 60 000 background events, at 90 %: true
    rejection 23.3. The threshold's scatter dominates; the binomial error alone covers the
    truth in about a fifth of the toys."""
    rng = np.random.default_rng(1)
    truth = true_rejection(3.0, 0.90)
    points = [working_point(rng.normal(3, 1, 3000), rng.normal(0, 1, 60000), 0.90) for _ in range(TOYS)]
    coverage = covered([p.interval for p in points], truth)
    binomial_only = covered([(p.rejection - e, p.rejection + e) for p in points
                             for e in [p.rejection**2 * np.sqrt((1 / p.rejection) * (1 - 1 / p.rejection) / 60000)]],
                            truth)
    assert 0.60 <= coverage <= 0.78, coverage
    assert binomial_only < 0.35, binomial_only
    assert np.mean([p.rejection_error for p in points]) == pytest.approx(np.std([p.rejection for p in points]),
                                                                         rel=0.2)


def test_a_working_points_interval_covers_at_a_few_passing_events():
    """About three of 6 000 background events pass: true means of 2, 3, 4 and 5 passing
    events, 75 toys each. Garwood's interval is conservative and its coverage at one mean
    swings with the count's discreteness (0.72 at 2, 0.87 at 3 for a Poisson count alone), so
    the coverage is judged over the four; the Wald error would reach zero at one event."""
    rng = np.random.default_rng(2)
    intervals, truths, points = [], [], []
    for expected in (2, 3, 4, 5):
        signal_mean = norm.isf(expected / 6000) - norm.ppf(0.10)
        for _ in range(TOYS // 4):
            point = working_point(rng.normal(signal_mean, 1, 3000), rng.normal(0, 1, 6000), 0.90)
            points.append(point)
            intervals.append(point.interval)
            truths.append(true_rejection(signal_mean, 0.90))
    intervals, truths = np.asarray(intervals), np.asarray(truths)
    coverage = np.mean((intervals[:, 0] <= truths) & (truths <= intervals[:, 1]))
    assert 0.60 <= coverage <= 0.85, coverage
    one = [p for p in points if p.n_background_pass == 1]
    assert one and all(p.interval[0] > 0.2 * p.rejection for p in one)  # Garwood: 6000 / 3.3 = 1 800, not 0


def test_one_passing_event_reads_as_an_asymmetric_interval_and_none_as_a_bound_with_its_level():
    one = rejection(np.arange(6000) < 1)
    low, high = one.interval
    assert low == pytest.approx(6000 / 3.300, rel=1e-3) and high == pytest.approx(6000 / 0.1727, rel=1e-2)
    assert "±" not in str(one) and str(one).startswith("6000 (1800–")
    assert str(rejection(np.zeros(6000, bool))) == "> 3300 (84 % CL)"  # 6000 / 1.841
    many = rejection(np.arange(60000) < 3000)
    assert str(many) == "20.00 ± 0.36"  # symmetric at large counts: the binomial error, 0.356
    assert interval_text(float("nan"), float("nan"), float("nan")) == "N/A"


def test_deLongs_paired_auc_error_covers_and_is_smaller_than_quadrature():
    """Two scores of the same events sharing most of their information: DeLong's error of the
    AUC difference matches the spread of the difference over toys, and is well below two
    Hanley-McNeil errors in quadrature."""
    rng = np.random.default_rng(3)
    differences, errors = [], []
    for _ in range(TOYS):
        shared_s, shared_b = rng.normal(1.0, 1, 800), rng.normal(0, 1, 1200)
        a_s, a_b = shared_s + 0.3 * rng.normal(size=800), shared_b + 0.3 * rng.normal(size=1200)
        b_s, b_b = shared_s + 0.5 * rng.normal(size=800), shared_b + 0.5 * rng.normal(size=1200)
        d, e = auc_difference(a_s, a_b, b_s, b_b)
        differences.append(d)
        errors.append(e)
    area_a, area_b = norm.cdf(1.0 / np.sqrt(2 * (1 + 0.09))), norm.cdf(1.0 / np.sqrt(2 * (1 + 0.25)))
    truth, quadrature = area_a - area_b, np.hypot(auc_error(area_a, 800, 1200), auc_error(area_b, 800, 1200))
    differences, errors = np.array(differences), np.array(errors)
    coverage = np.mean(np.abs(differences - truth) <= errors)
    assert 0.60 <= coverage <= 0.78, coverage
    assert np.mean(errors) < 0.5 * quadrature


def test_mcnemars_paired_accuracy_error_covers():
    rng = np.random.default_rng(4)
    found = []
    for _ in range(TOYS):
        hard = rng.random(500) < 0.3  # events hard for both classifiers
        a = np.where(hard, rng.random(500) < 0.4, rng.random(500) < 0.95)
        b = np.where(hard, rng.random(500) < 0.3, rng.random(500) < 0.93)
        found.append(paired_accuracy_difference(a, b))
    truth = 0.3 * (0.4 - 0.3) + 0.7 * (0.95 - 0.93)
    found = np.array(found)
    coverage = np.mean(np.abs(found[:, 0] - truth) <= found[:, 1])
    assert 0.60 <= coverage <= 0.78, coverage


def test_a_paired_rejection_ratio_covers_the_true_ratio_and_is_narrower_than_quadrature():
    """Two classifiers on the same events, Gaussian scores of known means (so each true
    rejection is known) sharing a common part: the bootstrap interval covers the true
    ratio, and is narrower than the independent-sample ratio's."""
    rng = np.random.default_rng(5)
    n_s, n_b = 1500, 15000
    mean_a, mean_b = 2.6, 2.3
    truth = true_rejection(mean_a, 0.9) / true_rejection(mean_b, 0.9)
    intervals, widths = [], []
    for toy in range(150):
        common_s, common_b = rng.normal(size=n_s), rng.normal(size=n_b)
        own = [rng.normal(size=n) for n in (n_s, n_b, n_s, n_b)]
        a_s, a_b = mean_a + 0.9 * common_s + np.sqrt(0.19) * own[0], 0.9 * common_b + np.sqrt(0.19) * own[1]
        b_s, b_b = mean_b + 0.9 * common_s + np.sqrt(0.19) * own[2], 0.9 * common_b + np.sqrt(0.19) * own[3]
        ratio = paired_rejection_ratio(a_s, a_b, b_s, b_b, 0.9, replicas=200, seed=toy)
        intervals.append((ratio.lower, ratio.upper))
        a, b = working_point(a_s, a_b, 0.9), working_point(b_s, b_b, 0.9)
        widths.append((ratio.upper - ratio.lower) / (2 * ratio.value * np.hypot(a.rejection_error / a.rejection,
                                                                                 b.rejection_error / b.rejection)))
    coverage = covered(intervals, truth)
    assert 0.58 <= coverage <= 0.80, coverage  # 150 toys: +-3.8 % binomial spread
    assert np.median(widths) < 0.8


def test_a_paired_bootstrap_of_a_difference_cancels_what_the_two_share():
    rng = np.random.default_rng(6)
    shared = rng.normal(size=2000)
    a, b = shared + 0.1 * rng.normal(size=2000), shared + 0.1 * rng.normal(size=2000)
    _, spread = paired_bootstrap(lambda i: np.std(a[i]) - np.std(b[i]), 2000, replicas=300)
    _, alone = paired_bootstrap(lambda i: np.std(a[i]), 2000, replicas=300)
    assert spread < 0.3 * alone


def test_a_paired_width_difference_has_the_spread_of_the_difference_over_toys():
    """Two methods measuring the same photons (a large shared residual plus a small one of
    each's own): the bootstrap error of their core-width difference matches its spread over
    16 toys (the spread itself known to about 18 %), and is far below two widths' errors in
    quadrature, which count the shared part twice."""
    from analysis_lib.fitting import fit_gaussian_core, paired_width_difference

    rng = np.random.default_rng(7)
    found, quadrature = [], []
    for toy in range(16):
        shared = rng.normal(0, 1.0, 400)
        a, b = shared + rng.normal(0, 0.15, 400), shared + rng.normal(0, 0.3, 400)
        found.append(paired_width_difference(a, b, replicas=20, seed=toy))
        quadrature.append(np.hypot(fit_gaussian_core(a).errors["sigma"], fit_gaussian_core(b).errors["sigma"]))
    found = np.array(found)
    assert np.mean(found[:, 1]) == pytest.approx(np.std(found[:, 0], ddof=1), rel=0.4)
    assert np.mean(found[:, 1]) < 0.6 * np.mean(quadrature)


def test_non_inferiority_is_one_sided():
    from analysis_lib.metrics import non_inferiority

    assert non_inferiority(-0.5, 0.1, 0.05) == "not worse"  # far better is not "beyond"
    assert non_inferiority(0.3, 0.1, 0.05) == "worse"
    assert non_inferiority(0.0, 0.1, 0.05) == "not resolved"


def test_a_fraction_of_none_or_all_has_an_error_that_covers():
    """0 of n or n of n: the Wald error is 0 and covers nothing; the Clopper-Pearson edge
    used instead covers a true efficiency of 0.97 in at least 68 % of 40-event samples."""
    from analysis_lib.metrics import binomial_error

    assert binomial_error(1.0, 40) == pytest.approx(1 - 0.15865 ** (1 / 40), rel=1e-3) and binomial_error(0.0, 40) > 0
    rng = np.random.default_rng(9)
    fractions = rng.binomial(40, 0.97, 2000) / 40
    errors = binomial_error(fractions, 40)
    assert np.mean(np.abs(fractions - 0.97) <= errors) >= 0.68


def test_a_core_widths_bootstrap_error_has_its_spread_over_toys():
    """Residuals with a cusp at zero (a Laplace distribution, as positions near cell edges):
    the bootstrap error of ``resolution_table`` matches the Gaussian-core width's spread over
    24 toys (the spread itself known to about 15 %), where HESSE's error of the last
    fixed-window fit, blind to the window moving with the sample, is about 1.7 times too small."""
    from analysis_lib.fitting import resolution_table

    rng = np.random.default_rng(11)
    widths, errors, hesse = [], [], []
    for toy in range(24):
        values = rng.laplace(0, 1, 600)
        residuals = {"toy": {"x": values, "y": values[:100], "e": values[:100]}}
        row = resolution_table(residuals, replicas=20, seed=toy).loc["toy"]
        widths.append(row["sigma_x [mm]"])
        errors.append(row["error sigma_x [mm]"])
        hesse.append(resolution_table(residuals).loc["toy", "error sigma_x [mm]"])
    spread = np.std(widths, ddof=1)
    assert np.mean(errors) == pytest.approx(spread, rel=0.35)
    assert np.mean(hesse) < 0.75 * spread
