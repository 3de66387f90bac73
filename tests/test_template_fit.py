"""Signal + background template fits and the efficiency measured from them."""

import math

import numpy as np
import pytest
from scipy import integrate

from analysis_lib.errors import EmptyDatasetError, ParameterError
from analysis_lib.fitting import bernstein_cdf, fit_signal_yield, template_efficiency

EDGES = np.linspace(65.0, 105.0, 41)


def _signal(rng, n):
    return rng.normal(91.2, 2.5, n)  # a Z-like peak in m_llgamma


def _background(rng, n):
    return 65.0 + 40.0 * rng.beta(1.0, 2.0, n)  # falling


def _hist(values):
    return np.histogram(values, EDGES)[0]


def test_bernstein_background_is_normalised_to_its_yields():
    coefficients = (120.0, 30.0, 5.0)
    assert bernstein_cdf(105.0, coefficients, 65.0, 105.0) == pytest.approx(155.0)
    assert bernstein_cdf(65.0, coefficients, 65.0, 105.0) == 0.0

    def density(x):
        return sum(c * 3 * math.comb(2, k) * ((x - 65) / 40) ** k * (1 - (x - 65) / 40) ** (2 - k) / 40
                   for k, c in enumerate(coefficients))

    assert bernstein_cdf(80.0, coefficients, 65.0, 105.0) == pytest.approx(integrate.quad(density, 65, 80)[0], rel=1e-9)


def test_efficiency_pulls_have_zero_mean_and_unit_width():
    rng = np.random.default_rng(7)
    truth, pulls = 0.8, []
    for _ in range(120):
        template = _hist(_signal(rng, 5000))
        signal, background = _signal(rng, rng.poisson(2000)), _background(rng, rng.poisson(3000))
        signal_pass, background_pass = rng.random(signal.size) < truth, rng.random(background.size) < 0.2
        passed = _hist(np.concatenate([signal[signal_pass], background[background_pass]]))
        failed = _hist(np.concatenate([signal[~signal_pass], background[~background_pass]]))
        eff, error, _, _ = template_efficiency(passed, failed, EDGES, template)
        pulls.append((eff - truth) / error)
    assert abs(np.mean(pulls)) < 0.3
    assert 0.75 < np.std(pulls) < 1.25


def test_background_only_and_signal_only_samples():
    rng = np.random.default_rng(8)
    template = _hist(_signal(rng, 10000))
    only_background = fit_signal_yield(_hist(_background(rng, 4000)), EDGES, template)
    assert only_background.valid and only_background.signal < 3 * only_background.signal_error + 5
    assert only_background.background.sum() == pytest.approx(4000, rel=0.05)
    only_signal = fit_signal_yield(_hist(_signal(rng, 3000)), EDGES, template)
    assert only_signal.signal == pytest.approx(3000, abs=3 * only_signal.signal_error + 10)
    assert only_signal.background.sum() < 60


def test_a_bin_with_zero_counts_is_fitted():
    rng = np.random.default_rng(9)
    counts = _hist(np.concatenate([_signal(rng, 800), _background(rng, 800)]))
    counts[5] = 0
    fit = fit_signal_yield(counts, EDGES, _hist(_signal(rng, 5000)))
    assert fit.valid and np.isfinite(fit.signal_error) and fit.signal > 0


def test_bad_histograms_are_refused():
    template = np.ones(40)
    with pytest.raises(EmptyDatasetError, match="no events"):
        fit_signal_yield(np.zeros(40), EDGES, template)
    with pytest.raises(EmptyDatasetError, match="template"):
        fit_signal_yield(np.ones(40), EDGES, np.zeros(40))
    with pytest.raises(ParameterError, match="disagree"):
        fit_signal_yield(np.ones(39), EDGES, template)


def _radiative_z_like(rng, n_photons=8000, n_fakes=8000):
    """m_llgamma of photons (a Z peak) and of Z + jets fakes, whose mass rises to a
    kinematic edge just above the Z's, and each candidate's ID decision."""
    photons = _signal(rng, n_photons)
    fakes = np.concatenate([93.0 + rng.gamma(2.0, 3.0, n_fakes // 2), 65.0 + 40.0 * rng.beta(2.0, 1.2, n_fakes // 2)])
    mass = np.concatenate([photons, fakes])
    is_photon = np.arange(mass.size) < n_photons
    passed = np.where(is_photon, rng.random(mass.size) < 0.85, rng.random(mass.size) < 0.05)
    return mass, is_photon, passed


def test_the_efficiency_closes_with_a_control_template_where_a_polynomial_is_biased():
    """The photon-ID chapter's closure at smoke size: with the fakes' shape from a control
    sample the pull mean is within 3 of its error of zero and the width within 3 of its
    error of one; a quadratic background cannot follow the edge and is biased."""
    from analysis_lib.studies.photon_id import TemplateFitSamples, closure_summary, efficiency_closure

    mass, is_photon, passed = _radiative_z_like(np.random.default_rng(10), 20000, 20000)
    edges, window = np.linspace(65.0, 105.0, 17), (80.0, 100.0)
    samples = TemplateFitSamples.of(mass, is_photon, edges)
    truth = {"ID": samples.true_efficiency(passed, window)}
    for background, closes in (("template", True), (2, False)):
        closure = efficiency_closure(samples, {"ID": passed}, window, 80, 1500, 1500, np.random.default_rng(2),
                                     background)
        row = closure_summary(closure, truth).loc["ID"]
        assert row["pseudo-experiments"] >= 75
        unbiased = abs(row["pull mean"]) <= 3 * row["error of the mean"]
        assert unbiased == closes, (background, row["pull mean"], row["error of the mean"])
        if closes:
            assert abs(row["pull width"] - 1) <= 3 * row["error of the width"], row["pull width"]
