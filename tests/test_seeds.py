"""The training-seed spread: its table, its summary, and a claim checked on every seed."""

import numpy as np
import pandas as pd
import pytest

from analysis_lib.errors import ParameterError
from analysis_lib.metrics import auc, auc_error
from analysis_lib.seeds import COLUMNS, holds_across_seeds, seed_spread, spread_summary, spread_table


def _measure(seed):
    # a "network" whose AUC moves with the seed by 0.01 and whose test error is 0.002
    return {("CNN", "AUC"): (0.90 + 0.01 * (seed - 2), 0.002), ("PFN", "AUC"): (0.95, 0.003)}


def test_the_summary_gives_mean_and_sample_spread_beside_the_test_error():
    table = seed_spread(_measure, [1, 2, 3], progress=False)
    assert list(table.columns) == COLUMNS and len(table) == 6
    summary = spread_summary(table)
    cnn = summary.loc[("CNN", "AUC")]
    assert cnn["mean"] == pytest.approx(0.90)
    assert cnn["spread over seeds"] == pytest.approx(0.01)  # sample standard deviation of 0.89, 0.90, 0.91
    assert cnn["test error"] == pytest.approx(0.002) and cnn["seeds"] == 3
    assert summary.loc[("PFN", "AUC"), "spread over seeds"] == pytest.approx(0.0, abs=1e-12)


def test_the_page_shows_the_mean_with_its_test_error_and_the_spread_to_two_figures():
    shown = spread_table(seed_spread(_measure, [1, 2, 3], progress=False))
    cnn = shown.loc[("CNN", "AUC")]
    assert cnn["mean ± test error"] == "0.9000 ± 0.0020" and cnn["spread over seeds"] == "0.010"
    assert cnn["range"] == "0.89 to 0.91" and "unmeasured" not in shown  # no seed left unmeasured
    once = spread_table(seed_spread(_measure, [1], progress=False)).loc[("CNN", "AUC")]
    assert once["spread over seeds"] == "one seed" and once["range"] == ""


def test_unmeasurable_values_are_counted_not_averaged():
    table = pd.DataFrame([["CNN", "rejection at 90%", s, v, 1.0] for s, v in ((1, 50.0), (2, np.inf), (3, 70.0))],
                         columns=COLUMNS)
    row = spread_summary(table).loc[("CNN", "rejection at 90%")]
    assert row["mean"] == 60.0 and row["unmeasured"] == 1 and row["max"] == 70.0


def test_a_claim_must_hold_on_every_seed():
    table = seed_spread(_measure, [1, 2, 3], progress=False)
    holds, text = holds_across_seeds(table, "PFN", "CNN", "AUC")
    assert holds and text == "PFN is ahead of CNN in AUC on every one of the 3 training seeds"
    bdt = pd.DataFrame([["BDT", "AUC", 0, 0.905, 0.0]], columns=COLUMNS)
    holds, text = holds_across_seeds(pd.concat([table, bdt]), "CNN", "BDT", "AUC")
    assert not holds and text == "CNN is ahead of BDT in AUC on 1 of 3 training seeds"  # seed 3's 0.91 > 0.905
    holds, text = holds_across_seeds(table, "CNN", "PFN", "AUC")
    assert not holds and text == "PFN is ahead of CNN in AUC on every one of the 3 training seeds"


def test_repeated_or_missing_seeds_are_refused():
    with pytest.raises(ParameterError, match="distinct"):
        seed_spread(_measure, [1, 1], progress=False)
    with pytest.raises(ParameterError, match="no AUC"):
        holds_across_seeds(seed_spread(_measure, [1], progress=False), "CNN", "GNN", "AUC")


def test_auc_error_matches_the_spread_of_auc_over_test_samples():
    rng = np.random.default_rng(0)
    areas = [auc(rng.normal(1.0, 1.0, 400), rng.normal(0.0, 1.0, 600)) for _ in range(400)]
    assert auc_error(np.mean(areas), 400, 600) == pytest.approx(np.std(areas), rel=0.15)
