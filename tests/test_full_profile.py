"""The ``full`` profile's photon-jet models (one task), end to end at half a percent of their size.

``--scale`` keeps every other value of the full profile (three training seeds, its
patience, its parameters), so this takes the paths a GPU run takes with 125 000 events
per class (the original's 70 000 training events per class): the same notebooks, the
seed-spread tables, the comparison with the trees.
The peak memory of each stage at full size is measured by ``benchmarks/bench_full_memory.py``.
"""

import nbformat
import pytest

from analysis_lib.io import load_table
from analysis_lib.pipeline import Pipeline, default_root, load_stages, select
from analysis_lib.seeds import SPREAD_FILE

ROOT = default_root()
SCALE = 0.005


@pytest.fixture(scope="module")
def scaled_full_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("full")
    # one task: the three differ only in the signal's file, not in the paths they take
    stages = select(load_stages(ROOT / "stages.yml"), ["photon_jets/compare/axion1"])
    # the scale chapter comes along (the comparison places its size on that curve): at its lightest here
    lightest_scale = {"training_events_per_class": [100], "spread_cells": [], "scaling_training_events_per_class": 0}
    pipeline = Pipeline(stages, profile="full", root=ROOT, data_dir=base / "data", book_dir=base / "book", jobs=2,
                        scale=SCALE, overrides=lightest_scale, log=lambda message: None)
    return pipeline, stages, pipeline.run()


def test_every_photon_jet_stage_of_the_full_profile_runs_at_reduced_size(scaled_full_run):
    pipeline, stages, results = scaled_full_run
    assert not [f"{r.stage}: {r.message}" for r in results if r.status != "ran"]
    # the comparison places its training size on the scale chapter's curve (the book's gun)
    photon_jets = {s.id.split("/")[1] for s in stages if s.study == "photon_jets"}
    assert photon_jets == {"bdt", "cnn", "pfn", "compare", "scale"}
    for stage in stages:
        parameters = pipeline.parameters[stage.id]
        if "events_per_class" in parameters:
            assert parameters["events_per_class"] == round(125000 * SCALE), stage.id
        page = nbformat.read(pipeline.output_notebook(stage), as_version=4)
        said = f"`full` profile of `stages.yml`, its event counts and epochs scaled by {SCALE:g}"
        assert said in page.cells[0].source


def test_the_full_profile_trains_three_seeds_and_reports_each_stages_memory(scaled_full_run):
    pipeline, stages, results = scaled_full_run
    for stage in (s for s in stages if s.id.startswith(("photon_jets/cnn", "photon_jets/pfn"))):
        assert pipeline.parameters[stage.id]["patience"] == 8  # the full profile's own value, not scaled
        table = load_table(next(p for p in stage.paths("headlines", pipeline.data_dir) if p.name == SPREAD_FILE))
        assert (table.groupby(["model", "number"])["seed"].nunique() == 3).all(), stage.id
    for result in results:
        assert 0.05 < result.record["peak_memory_gib"] < 8, result.stage
    compare = next(r for r in results if r.stage == "photon_jets/compare/axion1")
    assert {"auc_BDT", "auc_GBDT", "auc_CNN", "auc_PFN"} <= set(compare.record)
