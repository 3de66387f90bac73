"""Training-seed spread: how far a trained network's headline number moves when only its
seed changes, shown beside the test-sample error of that number.

A number from one training is one draw: the initial weights, the order of the batches
and any dropout or augmentation all follow the seed. ``seed_spread`` trains and
measures once per seed; ``spread_summary`` gives, per model and number, the mean, the
sample standard deviation over seeds (ddof = 1) and the mean test-sample error, so a
reader sees at once whether a difference between two models is larger than what a
reseeded training would move. When the spread exceeds the test error, a single run's
value says more about its seed than about the model.

What to use when: a training notebook calls ``seed_spread`` with a ``measure(seed)`` that
trains (or, for its primary seed, reuses) a model and returns its headline numbers, and
saves the table as ``SPREAD_FILE`` in its output folder; the results page and the
comparison chapters read those files and call ``spread_summary`` (numbers, for a program)
or ``spread_table`` (the same as a page shows it); ``holds_across_seeds`` checks a claim
such as "the CNN beats the BDT" on every seed.

Contents: ``SPREAD_FILE``, ``seed_spread``, ``spread_summary``, ``spread_table``,
``holds_across_seeds``.
"""

import numpy as np
import pandas as pd
from tqdm import tqdm

from .errors import ParameterError
from .io.files import progress_disabled
from .metrics import round_to_error, significant

#: The table each training stage writes into its output folder.
SPREAD_FILE = "seed_spread.csv"
COLUMNS = ["model", "number", "seed", "value", "test error"]


def seed_spread(measure, seeds, progress=True):
    """Call ``measure(seed)`` for every seed; it returns {(model, number): (value, test
    error, ...)} (what follows the error, such as an interval's edges, is not collected).
    Returns the long table (``COLUMNS``), one row per model, number and seed."""
    seeds = list(seeds)
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ParameterError(f"the training seeds must be distinct and at least one, got {seeds}")
    rows = []
    for seed in tqdm(seeds, desc="training seeds", disable=progress_disabled(progress) or len(seeds) == 1):
        for (model, number), (value, error, *_) in measure(seed).items():
            rows.append({"model": model, "number": number, "seed": int(seed), "value": float(value),
                         "test error": float(error)})
    return pd.DataFrame(rows, columns=COLUMNS)


def spread_summary(table):
    """Per model and number: seeds, mean, standard deviation over the seeds (sample, ddof
    = 1; NaN with one seed), the mean test-sample error and the smallest and largest value.
    Values that could not be measured (NaN, e.g. no background event passing) are left
    out of the mean and counted in ``unmeasured``."""
    def summarise(group):
        values = group["value"].to_numpy(float)
        finite = values[np.isfinite(values)]
        return pd.Series({"seeds": len(values),
                          "mean": finite.mean() if finite.size else np.nan,
                          "spread over seeds": finite.std(ddof=1) if finite.size > 1 else np.nan,
                          "test error": np.nanmean(group["test error"]) if finite.size else np.nan,
                          "min": finite.min() if finite.size else np.nan,
                          "max": finite.max() if finite.size else np.nan,
                          "unmeasured": int(values.size - finite.size)})

    summary = table.groupby(["model", "number"], sort=False)[["value", "test error"]].apply(summarise)
    return summary.astype({"seeds": int, "unmeasured": int})


def spread_table(table):
    """``spread_summary`` as a page shows it: the mean over seeds with the test-sample error
    of one run (``value ± error``), the spread over seeds to two significant figures ("one
    seed" where there is no second), the range of the seeds' values, and the unmeasured
    seeds only where there are some."""
    summary = spread_summary(table)
    shown = pd.DataFrame({
        "seeds": summary["seeds"],
        "mean ± test error": [round_to_error(m, e) if m == m else "not measured"
                              for m, e in zip(summary["mean"], summary["test error"])],
        "spread over seeds": [significant(s) if s == s else "one seed" for s in summary["spread over seeds"]],
        "range": [f"{lo:.4g} to {hi:.4g}" if n > 1 and lo == lo else "" for n, lo, hi
                  in zip(summary["seeds"], summary["min"], summary["max"])]}, index=summary.index)
    if summary["unmeasured"].any():
        shown["unmeasured"] = summary["unmeasured"]
    return shown


def holds_across_seeds(table, better, worse, number, larger_is_better=True):
    """Whether ``better`` beats ``worse`` in ``number`` on every seed the two share (a
    model with one seed, e.g. a deterministic BDT, is compared with every seed of the
    other). Returns (holds, text)."""
    a = table[(table["model"] == better) & (table["number"] == number)].set_index("seed")["value"]
    b = table[(table["model"] == worse) & (table["number"] == number)].set_index("seed")["value"]
    if a.empty or b.empty:
        raise ParameterError(f"no {number} of {better!r} or of {worse!r} in the seed table")
    if len(b) == 1:
        b = pd.Series(b.iloc[0], index=a.index)
    elif len(a) == 1:
        a = pd.Series(a.iloc[0], index=b.index)
    shared = a.index.intersection(b.index)
    wins = (a[shared] > b[shared]) if larger_is_better else (a[shared] < b[shared])
    won, n = int(wins.sum()), len(shared)
    # affirmative in every case: who is ahead, on how many seeds
    text = (f"{better} is ahead of {worse} in {number} on every one of the {n} training seeds" if won == n else
            f"{worse} is ahead of {better} in {number} on every one of the {n} training seeds" if won == 0 else
            f"{better} is ahead of {worse} in {number} on {won} of {n} training seeds")
    return bool(wins.all()), text
