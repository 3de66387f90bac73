"""Models, training determinism, working points and explanations of the photon-jet study."""

import keras
import numpy as np
import pytest
import xgboost as xgb

from analysis_lib.detectors import ATLAS_ECAL
from analysis_lib.errors import EmptyDatasetError, ParameterError
from analysis_lib.explain import deep_shap, latent_correlations, tree_shap
from analysis_lib.metrics import confusion_matrix, efficiency_in_bins, poisson_interval, signal_score, working_point
from analysis_lib.models import submodel
from analysis_lib.studies.photon_jets import particle_flow_network, photon_jet_cnn
from analysis_lib.training import predict_logits, set_seed, split_indices, train_classifier


def _clouds(n, points, rng, filled=6):
    clouds = np.zeros((n, points, 8), np.float32)
    clouds[:, :filled] = rng.normal(size=(n, filled, 8)).astype(np.float32)
    return clouds


@pytest.mark.parametrize("energy_weighted", [None, 2])
def test_pfn_is_invariant_under_permutations_of_the_points(energy_weighted):
    rng = np.random.default_rng(0)
    set_seed(0)
    pfn = particle_flow_network(10, 8, energy_weighted=energy_weighted)
    clouds = _clouds(5, 10, rng)
    shuffled = clouds[:, rng.permutation(10)]
    assert np.allclose(predict_logits(pfn, clouds), predict_logits(pfn, shuffled), atol=1e-5)


def test_energy_weighted_sum_weights_each_point_by_its_energy_fraction():
    rng = np.random.default_rng(10)
    set_seed(0)
    pfn = particle_flow_network(10, 8, phi_sizes=(4,), energy_weighted=2)
    latent = keras.Model(pfn.input, pfn.get_layer("latent").output)
    phi = keras.Model(pfn.input, pfn.layers[1].output)  # Phi on every point
    clouds = _clouds(3, 10, rng)
    expected = (predict_logits(phi, clouds) * clouds[..., 2:3] * (np.abs(clouds).sum(-1, keepdims=True) > 0)).sum(1)
    assert np.allclose(predict_logits(latent, clouds), expected, atol=1e-5)


@pytest.mark.parametrize("energy_weighted", [None, 2])
def test_pfn_output_is_unchanged_by_padding(energy_weighted):
    rng = np.random.default_rng(1)
    set_seed(0)
    small = particle_flow_network(10, 8, energy_weighted=energy_weighted)
    large = particle_flow_network(25, 8, energy_weighted=energy_weighted)
    large.set_weights(small.get_weights())
    clouds = _clouds(4, 10, rng)
    padded = np.concatenate([clouds, np.zeros((4, 15, 8), np.float32)], axis=1)
    assert np.allclose(predict_logits(small, clouds), predict_logits(large, padded), atol=1e-5)


def test_saved_models_load_back_identically(tmp_path):
    rng = np.random.default_rng(2)
    set_seed(0)
    pfn = particle_flow_network(10, 8, energy_weighted=2)
    pfn.save(tmp_path / "pfn.keras")
    clouds = _clouds(3, 10, rng)
    again = keras.models.load_model(tmp_path / "pfn.keras")  # safe mode: no arbitrary code
    assert np.array_equal(predict_logits(pfn, clouds), predict_logits(again, clouds))


def test_cnn_reads_every_layer_unless_the_original_bug_is_asked_for():
    rng = np.random.default_rng(3)
    images = [rng.random((2,) + s + (1,)).astype(np.float32) for s in ATLAS_ECAL.layer_shapes]
    changed = [im.copy() for im in images]
    changed[3] += 1.0  # only the back layer changes
    for bug, should_change in ((False, True), (True, False)):
        set_seed(0)
        model = photon_jet_cnn(ATLAS_ECAL.layer_shapes, reproduce_back_layer_bug=bug)
        differs = not np.allclose(predict_logits(model, images), predict_logits(model, changed))
        assert differs == should_change


def test_training_is_deterministic_for_a_seed():
    rng = np.random.default_rng(4)
    x, y = _clouds(120, 10, rng), rng.integers(0, 3, 120)

    def run():
        set_seed(7)
        model = particle_flow_network(10, 8, phi_sizes=(16,), f_sizes=(8,))
        train_classifier(model, x[:90], y[:90], x[90:], y[90:], epochs=2, batch_size=16, seed=7)
        return predict_logits(model, x)

    assert np.array_equal(run(), run())


def test_split_indices():
    a = split_indices(100, (0.56, 0.14, 0.3), seed=3)
    b = split_indices(100, (0.56, 0.14, 0.3), seed=3)
    assert [len(p) for p in a] == [56, 14, 30]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(np.unique(np.concatenate(a))) == 100
    with pytest.raises(ParameterError):
        split_indices(10, (0.5, 0.6))
    with pytest.raises(EmptyDatasetError):
        split_indices(0)


def test_working_point_matches_a_brute_force_count():
    rng = np.random.default_rng(5)
    signal, background = rng.normal(2, 1, 5000), rng.normal(0, 1, 20000)
    for target in (0.9, 0.95, 0.99):
        wp = working_point(signal, background, target)
        # brute force: scan every signal score as a cut, keep the tightest one passing >= target
        best = max(t for t in signal if np.mean(signal >= t) >= target)
        n_pass = int(np.sum(background >= best))
        assert wp.threshold == best and wp.n_background_pass == n_pass
        assert wp.rejection == pytest.approx(len(background) / n_pass)
        eff_b = n_pass / len(background)
        binomial_only = np.sqrt(eff_b * (1 - eff_b) / len(background)) / eff_b**2
        assert wp.rejection_error > binomial_only  # the threshold's scatter from the signal sample adds to it
        low, high = wp.interval
        assert low < wp.rejection < high


def test_working_point_not_reachable():
    signal, background = np.linspace(5, 6, 1000), np.linspace(0, 1, 1000)
    wp = working_point(signal, background, 0.9)
    assert np.isnan(wp.rejection) and str(wp) == "> 540 (84 % CL)"  # 1000 / 1.841
    tied = np.concatenate([np.full(500, 1.0), np.linspace(0, 0.5, 500)])  # ties at the top
    wp = working_point(tied, np.linspace(0, 2, 100), 0.3)
    assert np.isnan(wp.rejection) and wp.signal_efficiency == pytest.approx(0.5)


def test_a_working_point_exactly_at_its_tolerance_is_shown():
    """84 signal events reach 100 % at a 99 % target: 0.01 off, which is the tolerance
    itself (the float difference is 0.010000000000000009), so it is shown, as 99.5 % is."""
    signal, background = np.linspace(1, 2, 84), np.linspace(0, 1.5, 400)
    for target in (0.99, 0.995):
        wp = working_point(signal, background, target)
        assert wp.signal_efficiency == 1.0 and np.isfinite(wp.rejection), (target, wp)
    assert np.isnan(working_point(signal, background, 0.99, tolerance=0.009).rejection)  # beyond a smaller one


def test_signal_score_orders_like_the_softmax_probability():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(200, 3)) * 5
    probability = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    score = signal_score(logits)
    assert np.allclose(score, np.log(probability[:, 2] / (1 - probability[:, 2])))
    huge = np.array([[0.0, 0.0, 60.0], [0.0, 0.0, 70.0]])  # p_s rounds to 1 in float64; the score does not
    assert signal_score(huge)[1] > signal_score(huge)[0]


def test_confusion_matrix_and_binned_efficiency():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 2, 2])
    m = confusion_matrix(labels, predicted, 3)
    assert np.allclose(m, [[0.5, 0.5, 0], [0, 2 / 3, 1 / 3], [0, 0, 1]])
    centres, eff, err = efficiency_in_bins(np.array([1.0, 1.5, 2.5, 2.6]), np.array([1, 0, 1, 1]), np.array([1.0, 2.0,
                                                                                                             3.0]))
    # 1 of 2, and 2 of 2: the second's error is the Clopper-Pearson edge, not the Wald formula's 0
    assert np.allclose(eff, [0.5, 1.0]) and np.allclose(err, [np.sqrt(0.25 / 2), 1 - 0.15865 ** 0.5], atol=1e-4)


def test_tree_shap_adds_up_to_the_margin():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.5).astype(int) + (x[:, 2] > 1)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    values, expected = tree_shap(model, x[:50])
    margin = model.predict(x[:50], output_margin=True)
    assert np.allclose(values.sum(axis=1) + expected, margin, atol=1e-4)


def test_deep_shap_of_the_pfn_head_adds_up():
    rng = np.random.default_rng(8)
    set_seed(0)
    pfn = particle_flow_network(10, 8, phi_sizes=(16,), f_sizes=(12,))
    head = submodel(pfn, "latent", "logits")
    latent = keras.Model(pfn.input, pfn.get_layer("latent").output)
    z = predict_logits(latent, _clouds(60, 10, rng)).astype(np.float32)
    assert np.allclose(predict_logits(head, z), predict_logits(pfn, _clouds(60, 10, np.random.default_rng(8))),
                       atol=1e-5)
    values, expected = deep_shap(head, z[:30], z[30:40])
    values = values[..., 2] if values.shape[-1] == 3 else values[2]
    assert np.allclose(values.sum(axis=1) + expected[2], predict_logits(head, z[30:40])[:, 2], atol=1e-3)


def test_latent_correlations_find_the_unit_that_follows_a_variable():
    rng = np.random.default_rng(9)
    energy = rng.uniform(40, 250, 500)
    latent = rng.normal(size=(500, 6))
    latent[:, 4] = 0.01 * energy + rng.normal(0, 0.1, 500)
    latent[:, 1] = 0.0  # a dead unit
    rows = latent_correlations(latent, {"total_e": energy})
    assert rows[0]["unit"] == 4 and rows[0]["pearson_r"] > 0.9 and rows[0]["live_units"] == 5


def test_bdt_is_deterministic_and_round_trips_through_json(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(400, 9))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1)

    def fit():
        return xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=1, n_jobs=2).fit(x, y)

    model = fit()
    assert np.array_equal(model.predict(x, output_margin=True), fit().predict(x, output_margin=True))
    model.save_model(tmp_path / "bdt.json")
    loaded = xgb.XGBClassifier()
    loaded.load_model(tmp_path / "bdt.json")
    assert np.array_equal(model.predict(x, output_margin=True), loaded.predict(x, output_margin=True))


def test_a_selection_no_background_passes_has_a_lower_bound_not_infinity(recwarn):
    """What a photon-ID menu that no jet passes gives: "> N", never inf or nan, and in
    the binned comparison no ratio for that bin, without a divide-by-zero warning."""
    from analysis_lib.metrics import id_comparison_in_bins, rejection

    none = rejection(np.zeros(480, bool))
    assert str(none) == "> 260 (84 % CL)" and np.isnan(none.value) and none.lower_bound == pytest.approx(480 / 1.841,
                                                                                                      rel=1e-3)
    some = rejection(np.arange(400) < 4)
    assert some.value == 100 and str(some) == "100 (56–190)"  # Garwood, 4 events: 2.09-7.16, not 100 ± 50
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 2, 4000)
    is_signal = rng.random(4000) < 0.5
    score = rng.normal(is_signal.astype(float), 1.0)
    cut_pass = is_signal & (score > 0) | (~is_signal & (values < 1) & (score > 1.5))  # no background passes above 1
    table = id_comparison_in_bins(values, [0, 1, 2], is_signal, score, cut_pass)
    assert list(table["background passing the cuts"] == 0) == [False, True]
    assert np.isfinite(table["rejection ratio"].iloc[0]) and np.isnan(table["rejection ratio"].iloc[1])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_the_binned_rejection_ratio_error_counts_the_jets_both_selections_pass():
    """The classifier and the cuts are tried on the same jets: the ratio's error from the
    shared passing jets matches the spread of the ratio over independent background
    samples (the signal, which sets the working point, held fixed, as for every rejection's
    error), where treating the two rejections as independent would overstate it twofold."""
    from analysis_lib.metrics import id_comparison_in_bins

    n = 2000
    signal_rng = np.random.default_rng(99)
    signal_score = signal_rng.normal(1.5, 1.0, n)
    signal_cut = signal_score + signal_rng.normal(0, 0.3, n) > 0.8  # the cuts see much of what the classifier sees
    is_signal = np.arange(2 * n) < n

    def one_background_sample(seed):
        rng = np.random.default_rng(seed)
        score = rng.normal(0.0, 1.0, n)
        cut = score + rng.normal(0, 0.3, n) > 0.8
        return id_comparison_in_bins(np.ones(2 * n), [0, 2], is_signal, np.r_[signal_score, score],
                                     np.r_[signal_cut, cut]).iloc[0]

    rows = [one_background_sample(seed) for seed in range(300)]
    ratios = np.array([r["rejection ratio"] for r in rows])
    quoted = np.mean([r["rejection ratio error"] for r in rows])
    independent = np.mean([r["rejection ratio"] * np.hypot(r["cut rejection error"] / r["cut rejection"],
                                                            r["classifier rejection error"] / r["classifier rejection"])
                           for r in rows])
    assert quoted == pytest.approx(ratios.std(ddof=1), rel=0.15)  # measured 0.0286 against 0.0295
    assert independent > 1.5 * ratios.std(ddof=1)
    assert all(r["AUC error"] > 0 and r["cut efficiency error"] > 0 for r in rows[:3])


def test_a_ratio_of_rejections_carries_both_errors_and_says_when_it_was_not_measured():
    from analysis_lib.metrics import rejection_ratio

    rng = np.random.default_rng(3)
    background = rng.normal(size=20000)
    strong = working_point(rng.normal(2.5, 1, 5000), background, 0.9)
    weak = working_point(rng.normal(1.5, 1, 5000), background, 0.9)
    ratio = rejection_ratio(strong, weak)
    assert ratio.value == pytest.approx(strong.rejection / weak.rejection)
    relative = np.hypot(strong.rejection_error / strong.rejection, weak.rejection_error / weak.rejection)
    assert ratio.error == pytest.approx(ratio.value * relative) and ratio.error > 0
    nobody_passes = working_point(rng.normal(10, 1, 500), rng.normal(-10, 1, 500), 0.9)
    assert str(rejection_ratio(nobody_passes, weak)) == "not measured"
    assert "±" in str(ratio)


def test_the_binomial_error_of_a_fraction():
    from analysis_lib.metrics import binomial_error

    assert binomial_error(0.9, 100) == pytest.approx(0.03) and isinstance(binomial_error(0.9, 100), float)
    np.testing.assert_allclose(binomial_error(np.array([0.5, 0.9]), 400), [0.025, 0.015])
    assert np.isnan(binomial_error(0.5, 0))


def test_poisson_interval_gives_garwoods_central_68_percent_limits():
    """Garwood's (Gehrels's table) limits: 0 events -> (0, 1.841); 3 events -> (1.367, 5.918).
    So the original's CNN rejection of 19944 on 60000 background events (3 passing) lies
    between about 10 100 and 43 900."""
    assert poisson_interval(0) == pytest.approx((0.0, 1.841), abs=1e-3)
    assert poisson_interval(3) == pytest.approx((1.367, 5.918), abs=1e-3)
    low, high = poisson_interval(100)
    assert low < 100 < high and (high - low) / 2 == pytest.approx(10.0, rel=0.1)  # sqrt(N) for large N


def test_the_errors_of_a_mean_a_median_and_a_correlation_match_their_spread_over_samples():
    """Each quoted error against the spread of its statistic over 400 independent samples,
    on a skewed distribution (exponential), where the Gaussian formula for the median's
    error, 1.2533 sigma / sqrt(n), would be 26 % too large."""
    from analysis_lib.metrics import correlation_and_error, mean_and_error, median_and_error

    rng = np.random.default_rng(8)
    samples = rng.exponential(1.0, (400, 300))
    for statistic, truth in ((mean_and_error, 1.0), (median_and_error, np.log(2))):
        found = np.array([statistic(s) for s in samples])
        assert found[:, 0].mean() == pytest.approx(truth, abs=3 * found[:, 0].std() / 20)
        assert np.mean(found[:, 1]) == pytest.approx(found[:, 0].std(ddof=1), rel=0.12), statistic.__name__
    x = rng.normal(size=(400, 300))
    y = 0.6 * x + 0.8 * rng.normal(size=x.shape)  # r = 0.6
    found = np.array([correlation_and_error(a, b) for a, b in zip(x, y)])
    assert found[:, 0].mean() == pytest.approx(0.6, abs=0.01)
    assert np.mean(found[:, 1]) == pytest.approx(found[:, 0].std(ddof=1), rel=0.12)
    assert np.isnan(median_and_error([])[0]) and np.isnan(mean_and_error([2.0])[1])


def test_a_pull_counts_combined_errors():
    from analysis_lib.metrics import pull

    assert pull(1.5, 0.3, 1.0, 0.4) == pytest.approx(1.0)  # 0.5 over sqrt(0.09 + 0.16)
    assert pull(1.0, 0.3, 1.5, 0.4) == pytest.approx(-1.0)
