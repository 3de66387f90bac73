"""Both branches of the sentences that decide a page's claims, on synthetic numbers: each
wording states what was measured, affirmatively, and never reads as its opposite (no
"does not ... by more than two errors" beside a difference of five)."""

import numpy as np
import pandas as pd

from analysis_lib.metrics import RejectionRatio
from analysis_lib.studies.photon_id import closure_sentence
from analysis_lib.studies.photon_jets import efficiency_trend_sentence, lead_sentence, paired_verdicts


def test_the_efficiency_trend_counts_the_models_that_fall_and_names_the_others():
    every, sentence = efficiency_trend_sentence({"BDT": (0.088, 0.025), "GBDT": (0.097, 0.032),
                                                 "CNN": (0.150, 0.027), "PFN": (0.021, 0.020)})
    assert not every
    assert sentence.startswith("three of four models lose efficiency") and "BDT +0.088 ± 0.025" in sentence
    assert "one of four models change by less than two errors (PFN +0.021 ± 0.020)" in sentence
    assert "not" not in sentence
    every, sentence = efficiency_trend_sentence({"BDT": (0.1, 0.01), "CNN": (0.2, 0.02)})
    assert every and sentence.startswith("all two models lose efficiency")
    every, sentence = efficiency_trend_sentence({"BDT": (-0.1, 0.01), "CNN": (0.0, 0.02)})
    assert not every and "one of two models gain efficiency" in sentence


def test_the_lead_of_a_model_is_judged_on_its_paired_ratio_in_both_directions():
    ratios = {"CNN": RejectionRatio(4.6, 0.9, 3.8, 5.6), "PFN": RejectionRatio(1.3, 0.4, 0.95, 1.75),
              "BDT": RejectionRatio(0.2, 0.05, 0.16, 0.25), "MLP": RejectionRatio(np.nan, np.nan)}
    assert paired_verdicts(ratios) == {"CNN": "leads", "PFN": "not resolved", "BDT": "trails", "MLP": "not measured"}
    leads, sentence = lead_sentence("the trees", ratios)
    assert not leads
    assert "the trees lead CNN (ratio 4.60 ± 0.90) by more than two errors" in sentence
    assert "BDT (ratio 0.200 ± 0.045) lead the trees" in sentence
    assert "within two errors of one" in sentence
    assert "no ratio is measured for MLP (no background event passes)" in sentence
    leads, sentence = lead_sentence("the trees", {"CNN": ratios["CNN"]})
    assert leads and sentence == "At 90 %, the trees lead CNN (ratio 4.60 ± 0.90) by more than two errors."


def test_a_closure_is_decided_against_its_tolerance_not_by_a_pull_that_merely_is_not_significant():
    def row(pull, pull_error, width=1.0, width_error=0.03, fitted=0.8326, fitted_error=0.0013):
        return pd.Series({"pseudo-experiments": 200, "pull mean": pull, "error of the mean": pull_error,
                          "pull width": width, "error of the width": width_error, "mean fitted efficiency": fitted,
                          "error of the mean efficiency": fitted_error, "true efficiency": 0.8285})

    holds, sentence = closure_sentence("cuts", row(0.05, 0.05), "the template")
    assert holds and sentence.startswith("**cuts** closes") and "+3.2 of its error" in sentence
    holds, sentence = closure_sentence("cuts", row(-0.53, 0.09), "a polynomial")
    assert not holds and "does not close" in sentence and "beyond the tolerance of 0.2" in sentence
    holds, sentence = closure_sentence("cuts", row(0.1, 0.2), "the template")  # few pseudo-experiments
    assert not holds and "is not resolved" in sentence and "not resolved against the tolerance of 0.2" in sentence


def test_an_equivalence_reads_as_its_verdict_against_the_tolerance():
    from analysis_lib.reporting import equivalence

    assert equivalence("the back layer's cost in AUC", -0.0005, 0.0006, 0.005) == (
        "within", "The back layer's cost in AUC is within ±0.005: -0.00050 ± 0.00060, inside it at two errors.")
    verdict, sentence = equivalence("the bias", 0.05, 0.01, 0.01)
    assert verdict == "beyond" and sentence.startswith("The bias exceeds ±0.01: 0.050 ± 0.010")
    verdict, sentence = equivalence("the cost of not training on a mass", 0.004, 0.006, 0.01)
    assert verdict == "not resolved" and sentence.startswith("This test sample does not resolve the cost")
