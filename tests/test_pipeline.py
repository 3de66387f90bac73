"""The papermill pipeline on a tiny project: order, skipping, failures, parameters."""

import re
import subprocess
import sys
import textwrap

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from analysis_lib.errors import ParameterError, PipelineError
from analysis_lib.pipeline import Pipeline, load_stages, parse_overrides, select


def _notebook(path, parameters, body):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_code_cell(textwrap.dedent(parameters), metadata={"tags": ["parameters"]}),
                new_code_cell(textwrap.dedent(body))]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def make_project(tmp_path):
    """make -> use (reads make's output), and an independent stage."""
    _notebook(tmp_path / "notebooks/s/make.ipynb", 'out = "x.txt"\nn = 3\nfail = False\n', """
        from pathlib import Path
        if fail:
            raise RuntimeError("asked to fail")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(" ".join(str(i) for i in range(n)))
    """)
    _notebook(tmp_path / "notebooks/s/use.ipynb", 'src = "x.txt"\ndst = "y.txt"\n', """
        from pathlib import Path
        Path(dst).write_text(str(sum(int(v) for v in Path(src).read_text().split())))
    """)
    _notebook(tmp_path / "notebooks/t/other.ipynb", 'scale = 1.5\n', "print(scale * 2)\n")
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - id: s/make
            notebook: notebooks/s/make.ipynb
            writes: ["{data}/numbers"]
            parameters:
              all: {out: "{data}/numbers/x.txt"}
              smoke: {n: 4}
          - id: s/use
            notebook: notebooks/s/use.ipynb
            reads: ["{data}/numbers"]
            writes: ["{data}/sum.txt"]
            parameters:
              all: {src: "{data}/numbers/x.txt", dst: "{data}/sum.txt"}
          - id: t/other
            notebook: notebooks/t/other.ipynb
    """))
    return tmp_path


def _pipeline(project, jobs=2, **kwargs):
    stages = load_stages(project / "stages.yml")
    return Pipeline(stages, profile="smoke", root=project, data_dir=project / "data", book_dir=project / "book",
                    jobs=jobs, log=lambda message: None, **kwargs)


def _status(results):
    return {r.stage: r.status for r in results}


def test_runs_in_order_then_skips_what_is_unchanged(project):
    assert _status(_pipeline(project).run()) == {"s/make": "ran", "s/use": "ran", "t/other": "ran"}
    assert (project / "data/sum.txt").read_text() == "6"  # 0 + 1 + 2 + 3, n from the smoke profile
    assert (project / "book/s/make.ipynb").exists() and (project / "book/t/other.ipynb").exists()
    assert _status(_pipeline(project).run()) == {"s/make": "skipped", "s/use": "skipped", "t/other": "skipped"}

    # A new parameter value reruns the stage and what depends on it, nothing else.
    results = _pipeline(project, overrides={"n": 5}).run()
    assert _status(results) == {"s/make": "ran", "s/use": "ran", "t/other": "skipped"}
    assert (project / "data/sum.txt").read_text() == "10"


def test_deleted_output_or_edited_notebook_reruns(project):
    _pipeline(project).run()
    (project / "data/sum.txt").unlink()
    assert _status(_pipeline(project).run())["s/use"] == "ran"
    nb = nbformat.read(project / "notebooks/t/other.ipynb", as_version=4)
    nb.cells[1].source = "print(scale * 3)"
    nbformat.write(nb, project / "notebooks/t/other.ipynb")
    assert _status(_pipeline(project).run()) == {"s/make": "skipped", "s/use": "skipped", "t/other": "ran"}


def test_a_deleted_file_that_the_stage_list_does_not_name_reruns_its_stage(project):
    """``s/make`` declares its folder; the file it writes there is recorded in its stamp."""
    _pipeline(project).run()
    (project / "data/numbers/x.txt").unlink()
    assert _status(_pipeline(project).run()) == {"s/make": "ran", "s/use": "skipped", "t/other": "skipped"}
    assert (project / "data/numbers/x.txt").read_text() == "0 1 2 3"


def test_failure_stops_only_dependents_and_names_notebook_and_cell(project):
    _pipeline(project).run()
    before = (project / "book/s/make.ipynb").read_bytes()
    results = _pipeline(project, overrides={"fail": True}).run()
    assert _status(results) == {"s/make": "failed", "s/use": "blocked", "t/other": "skipped"}
    message = next(r.message for r in results if r.status == "failed")
    assert "notebooks/s/make.ipynb" in message and "cell 2" in message and "asked to fail" in message
    # The last good executed copy is kept; the failed execution is kept aside for reading.
    assert (project / "book/s/make.ipynb").read_bytes() == before
    assert (project / "book/.pipeline/smoke/failed/s/make.ipynb").exists()  # under the stage's id
    assert str(project / "book/.pipeline/smoke/failed/s/make.ipynb") in message
    assert not [p for p in (project / "book/s").iterdir() if p.name.startswith(".")]


def test_a_stage_that_did_not_finish_is_never_current_again(project):
    """Its stamp goes before it starts: a stage stopped half-way (here: failing) is rerun
    by the next plain run even though that run's parameters match the old stamp."""
    _pipeline(project).run()
    assert _status(_pipeline(project, overrides={"fail": True}).run())["s/make"] == "failed"
    # make rewrote the same numbers: what reads them is current by content
    assert _status(_pipeline(project).run()) == {"s/make": "ran", "s/use": "skipped", "t/other": "skipped"}


def test_an_unreadable_stamp_means_not_current(project):
    _pipeline(project).run()
    (project / "book/.pipeline/smoke/t__other.json").write_bytes(b"")  # as a full disk leaves it
    (project / "book/.pipeline/smoke/s__use.json").write_text("[1, 2")
    assert _status(_pipeline(project).run()) == {"s/make": "skipped", "s/use": "ran", "t/other": "ran"}
    assert not list((project / "book/.pipeline/smoke").glob(".*"))  # stamps are written whole or not at all


def test_a_stage_record_that_is_a_folder_is_one_sentence_before_anything_runs(project):
    pipeline = _pipeline(project)
    pipeline._stamp(pipeline.stages[1]).mkdir(parents=True)
    with pytest.raises(PipelineError, match="s__use.json is a folder where the run keeps its record of s/use"):
        pipeline.run()
    assert not (project / "data/numbers").exists()


def test_a_stage_that_does_not_write_its_declared_output_fails(project):
    text = (project / "stages.yml").read_text().replace('writes: ["{data}/sum.txt"]',
                                                        'writes: ["{data}/sum.txt", "{data}/never.txt"]')
    (project / "stages.yml").write_text(text)
    results = _pipeline(project).run()
    assert _status(results)["s/use"] == "failed"
    assert "did not write" in next(r.message for r in results if r.stage == "s/use")
    assert not (project / "book/.pipeline/smoke/s__use.json").exists()


def test_unknown_or_ill_typed_parameters_are_refused_before_anything_runs(project):
    with pytest.raises(ParameterError, match="no selected stage has a parameter 'nn'"):
        _pipeline(project, overrides={"nn": 3})
    with pytest.raises(ParameterError, match="'n' of s/make must be int"):
        _pipeline(project, overrides={"n": "three"})
    with pytest.raises(ParameterError, match="'scale' of t/other must be float"):
        _pipeline(project, overrides={"scale": [1]})
    assert not (project / "book").exists() and not (project / "data").exists()


def test_stage_list_refuses_parameters_the_notebook_does_not_declare(project):
    spec = (project / "stages.yml").read_text().replace("smoke: {n: 4}", "smoke: {n: 4, typo: 1}")
    (project / "stages.yml").write_text(spec)
    with pytest.raises(ParameterError, match="parameter 'typo' that make.ipynb does not declare"):
        _pipeline(project)


def test_stage_list_errors(project):
    spec = (project / "stages.yml").read_text()
    (project / "stages.yml").write_text(spec.replace('reads: ["{data}/numbers"]', 'reads: ["{data}/numbers"]\n    '
                                                     ).replace("    writes: [\"{data}/numbers\"]",
                                                               "    reads: [\"{data}/sum.txt\"]\n    writes: "
                                                               "[\"{data}/numbers\"]"))
    with pytest.raises(PipelineError, match="cycle"):
        load_stages(project / "stages.yml")
    (project / "stages.yml").write_text(spec.replace("smoke: {n: 4}", "huge: {n: 4}"))
    with pytest.raises(PipelineError, match="unknown profile 'huge'"):
        load_stages(project / "stages.yml")
    (project / "stages.yml").write_text(spec.replace("notebooks/t/other.ipynb", "notebooks/t/gone.ipynb"))
    with pytest.raises(PipelineError, match="missing notebook"):
        load_stages(project / "stages.yml")


@pytest.mark.parametrize("mistake, said", [
    (('reads: ["{data}/numbers"]', 'reed: ["{data}/numbers"]'), "stage 's/use': unknown key 'reed'"),
    (('reads: ["{data}/numbers"]', 'reads: "{data}/numbers"'), "stage 's/use': reads must be a list"),
    (("smoke: {n: 4}", "smoke: {n: 4}\n    matrix: {n: 4}"), "stage 's/make': matrix.n must be a list"),
    (("smoke: {n: 4}", "all: [1, 2]"), "stage 's/make': parameters.all must be a mapping"),
    (('reads: ["{data}/numbers"]', 'reads: ["{data}/numbrs"]'), "stage 's/use': reads {data}/numbrs, which no stage"),
    (("- id: t/other", "- id: t/other\n    stage: 3"), "stage 't/other': unknown key 'stage'"),
    (("- id: t/other", "- id: t/other\n    matrix: {scale: [a/b]}"), "stage 't/other': matrix value 'a/b' must"),
    (("- id: t/other", "- id: t/other\n    matrix: {scale: ['']}"), "stage 't/other': matrix value '' must"),
])
def test_a_stage_list_with_a_mistake_is_refused_naming_stage_and_key(project, mistake, said):
    """Before the schema, a misspelt ``reads`` was ignored and its dependency lost, and a
    matrix of one string expanded into a stage per character."""
    spec = (project / "stages.yml").read_text()
    assert mistake[0] in spec
    (project / "stages.yml").write_text(spec.replace(mistake[0], mistake[1], 1))
    with pytest.raises(PipelineError, match=re.escape(said)):
        load_stages(project / "stages.yml")


def test_an_unknown_profile_is_one_sentence_and_exit_status_2(capsys):
    from analysis_lib.cli import main

    assert main(["stages", "--profile", "nosuch"]) == 2
    assert capsys.readouterr().err == "error: unknown profile 'nosuch'; choose one of smoke, book, full\n"


def test_the_stage_list_marks_the_stages_a_profile_does_not_run(capsys):
    from analysis_lib.cli import main

    assert main(["stages", "--profile", "book"]) == 0  # every stage listed, those the profile leaves out marked
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("photon_jets/cnn/")]
    assert [line.split()[0] for line in lines] == ["photon_jets/cnn/scalar1", "photon_jets/cnn/axion1",
                                                   "photon_jets/cnn/axion2"]
    assert ["not run by the book profile; smoke and full run it" in line for line in lines] == [True, False, True]


def test_select_includes_upstream_stages(project):
    stages = load_stages(project / "stages.yml")
    assert [s.id for s in select(stages, ["s/use"])] == ["s/make", "s/use"]
    assert [s.id for s in select(stages, ["t"])] == ["t/other"]
    with pytest.raises(ParameterError, match="no stage or study called 'u'"):
        select(stages, ["u"])


def test_parse_overrides():
    assert parse_overrides(["a=3", "b=1e-3", "c=[1, 2]", "d=true", "e=gamma", "f='x y'"]) == {
        "a": 3, "b": 1e-3, "c": [1, 2], "d": True, "e": "gamma", "f": "x y"}
    with pytest.raises(ParameterError, match="name=value"):
        parse_overrides(["novalue"])


def test_cli_run_exits_non_zero_on_failure(project):
    command = [sys.executable, "-m", "analysis_lib", "run", "--profile", "smoke", "--stages",
               str(project / "stages.yml"),
               "--data-dir", str(project / "data"), "--book-dir", str(project / "book")]
    failed = subprocess.run(command + ["--only", "s/make", "-p", "fail=True"], capture_output=True, text=True,
                            cwd=project)
    assert failed.returncode == 1
    assert "stage s/make failed" in failed.stderr and "make.ipynb, cell 2" in failed.stderr
    refused = subprocess.run(command + ["-p", "n=x"], capture_output=True, text=True, cwd=project)
    assert refused.returncode == 2 and refused.stderr.startswith("error: parameter 'n'")
    stamp = project / "book/.pipeline/smoke"
    assert not any(stamp.glob("*.json"))  # nothing ran successfully, nothing recorded


def test_matrix_stages_expand_into_one_stage_and_page_per_value(project):
    spec = (project / "stages.yml").read_text() + textwrap.indent(textwrap.dedent("""
        - id: t/sweep
          notebook: notebooks/t/other.ipynb
          matrix: {scale: [0.5, 2.0]}
          writes: ["{data}/sweep_{scale}"]
    """), "  ")
    (project / "stages.yml").write_text(spec)
    stages = load_stages(project / "stages.yml")
    sweep = [s for s in stages if s.id.startswith("t/sweep/")]
    assert [s.id for s in sweep] == ["t/sweep/0.5", "t/sweep/2.0"]
    assert sweep[1].resolved_parameters("smoke", "D") == {"scale": 2.0}
    assert sweep[1].writes == ["{data}/sweep_2.0"]
    pipeline = _pipeline(project)
    assert pipeline.output_notebook(sweep[0]).name == "other_0.5.ipynb"
    assert [s.id for s in select(stages, ["t/sweep"])] == ["t/sweep/0.5", "t/sweep/2.0"]


def test_a_profile_that_runs_fewer_matrix_values_gives_the_others_a_page_naming_their_profiles(project):
    """``profiles: {book: [0.5]}``: the book profile runs one value; the other gets a page that
    names the profiles making it and the command, --only of it is one sentence, and a stage that
    the book runs may not read what the value left out writes."""
    matrix = textwrap.indent(textwrap.dedent("""
        - id: t/sweep
          notebook: notebooks/t/other.ipynb
          matrix: {scale: [0.5, 2.0]}
          profiles: {book: [0.5]}
    """), "  ")
    (project / "stages.yml").write_text((project / "stages.yml").read_text() + matrix)
    stages = load_stages(project / "stages.yml")
    assert [s.id for s in select(stages, ["t/sweep"], "book")] == ["t/sweep/0.5"]
    assert [s.id for s in select(stages, ["t/sweep"], "smoke")] == ["t/sweep/0.5", "t/sweep/2.0"]
    with pytest.raises(ParameterError, match="the book profile does not run 't/sweep/2.0'.*smoke and full"):
        select(stages, ["t/sweep/2.0"], "book")
    pipeline = Pipeline(select(stages, ["t"], "book"), profile="book", root=project, data_dir=project / "data",
                        book_dir=project / "book", log=lambda message: None)
    assert _status(pipeline.run()) == {"t/other": "ran", "t/sweep/0.5": "ran"}
    page = nbformat.read(project / "book/t/other_2.0.ipynb", as_version=4).cells[0].source
    assert "built with the `book` profile" in page and "--profile full --only t/sweep/2.0" in page
    for made_by, kept in (("smoke", False), ("full", True)):  # seconds of statistics are not left in the book
        Pipeline(select(stages, ["t/sweep/2.0"], made_by), profile=made_by, root=project, data_dir=project / made_by,
                 book_dir=project / "book", log=lambda message: None).run()
        pipeline.run()
        page = nbformat.read(project / "book/t/other_2.0.ipynb", as_version=4).cells[0].source
        assert ("built with the `book`" in page) is not kept, made_by
    reader = textwrap.indent(textwrap.dedent("""
        - id: t/reads_the_left_out
          notebook: notebooks/t/other.ipynb
          reads: ["{data}/sweep_2.0"]
    """), "  ")
    writer = matrix.replace("profiles:", 'writes: ["{data}/sweep_{scale}"]\n    profiles:')
    (project / "stages.yml").write_text((project / "stages.yml").read_text().replace(matrix, writer) + reader)
    with pytest.raises(PipelineError, match="reads .*sweep_2.0, which 't/sweep/2.0' writes, but the book profile"):
        load_stages(project / "stages.yml")


def test_a_sweep_runs_variants_side_by_side_and_gathers_what_they_record(project):
    from analysis_lib.pipeline import results_table, sweep

    _notebook(project / "notebooks/s/make.ipynb", 'out = "x.txt"\nn = 3\nfail = False\n', """
        from pathlib import Path
        from analysis_lib.reporting import record
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(" ".join(str(i) for i in range(n)))
        record(total=sum(range(n)), n_squared=float(n * n))
    """)
    stages = sweep(load_stages(project / "stages.yml"), {"n": [2, 5]})
    # make is swept; use reads make's output, which no variant writes any more: left out
    assert [s.id for s in stages] == ["s/make[n=2]", "s/make[n=5]", "t/other"]
    pipeline = Pipeline(stages, profile="book", root=project, data_dir=project / "data", book_dir=project / "book",
                        jobs=2, log=lambda message: None)
    table = results_table(pipeline.run())
    assert table.loc["s/make[n=2]", "total"] == 1 and table.loc["s/make[n=5]", "total"] == 10
    assert table.loc["s/make[n=5]", "n_squared"] == 25.0
    assert (project / "data/numbers.sweep[n=2]/x.txt").read_text() == "0 1"
    assert not (project / "data/numbers").exists()
    with pytest.raises(ParameterError, match="no selected stage has all the swept parameters"):
        sweep(load_stages(project / "stages.yml"), {"learning_rate": [0.1]})


# -- the book's own stages: what their hashes cover ---------------------------------------
def _book_stages():
    from analysis_lib.pipeline import default_root

    return load_stages(default_root() / "stages.yml")


def _hashes(stages, data, **overrides):
    from analysis_lib.pipeline import check_parameters, default_root, stage_hash

    resolved = check_parameters(stages, "smoke", overrides, data)
    return {s.id: stage_hash(s, resolved[s.id], data, default_root()) for s in stages}


#: For each study, a stage and an input its notebook opens that stages.yml does not name.
UNDECLARED = {"lartpc/train": "lartpc/muon.h5", "ldmx/images": "ldmx/signal_5MeV.root",
              "photon_id/hybrid_cnn": "photon_id/radiative_z_photon.h5",
              "photon_jets/bdt/axion1": "atlas_ecal/axion1_40-250GeV.h5",
              "shashlik/two_photons": "shashlik/diphoton.h5", "detector/resolution": "atlas_ecal/gamma_40-250GeV.h5"}


@pytest.mark.parametrize("stage_id", UNDECLARED)
def test_a_stage_hash_covers_every_file_its_notebook_reads(stage_id, tmp_path):
    stages = [s for s in _book_stages() if s.id == stage_id]
    data = tmp_path / "data"
    (data / UNDECLARED[stage_id]).parent.mkdir(parents=True)
    (data / UNDECLARED[stage_id]).write_bytes(b"first version")
    before = _hashes(stages, data)
    (data / UNDECLARED[stage_id]).write_bytes(b"replaced by the user")
    assert _hashes(stages, data) != before


def test_a_stage_hash_covers_the_users_own_files(tmp_path):
    stages = [s for s in _book_stages() if s.id == "photon_id/cut_based"]
    mine = tmp_path / "my_clusters"
    mine.mkdir()
    (mine / "radiative_z_jet.h5").write_bytes(b"one")
    before = _hashes(stages, tmp_path / "data", data_dir=str(mine))
    (mine / "radiative_z_jet.h5").write_bytes(b"two")
    assert _hashes(stages, tmp_path / "data", data_dir=str(mine)) != before


def test_a_stage_hash_covers_the_subfolders_of_the_users_own_folder(tmp_path):
    """The resolution chapter reads ``data_dir/scan/gamma_*GeV.h5``: replacing one of
    your files there reran nothing."""
    stages = [s for s in _book_stages() if s.id == "detector/resolution"]
    mine = tmp_path / "my_showers"
    (mine / "scan").mkdir(parents=True)
    (mine / "scan" / "gamma_10GeV.h5").write_bytes(b"one")
    before = _hashes(stages, tmp_path / "data", data_dir=str(mine))
    (mine / "scan" / "gamma_10GeV.h5").write_bytes(b"two")
    assert _hashes(stages, tmp_path / "data", data_dir=str(mine)) != before


def test_no_stage_hashes_what_a_stage_downstream_or_aside_writes(tmp_path):
    """Otherwise a later stage's run would make an earlier one look changed."""
    from analysis_lib.pipeline import check_parameters, default_root, dependencies, stage_inputs

    stages, data = _book_stages(), tmp_path / "data"
    for stage in stages:  # every output present, as after a full run
        for path in stage.paths("writes", data):
            target = path if path.suffix else path / "output.h5"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"x")
    deps = dependencies(stages, data)
    upstream = {}
    for stage in stages:
        found, frontier = set(), set(deps[stage.id])
        while frontier:
            found |= frontier
            frontier = set().union(*(deps[d] for d in frontier)) - found
        upstream[stage.id] = found
    resolved = check_parameters(stages, "smoke", {}, data)
    outputs = [w for stage in stages for w in stage.paths("writes", data)]  # what the runner hands stage_hash
    for stage in stages:
        for file in stage_inputs(stage, resolved[stage.id], data, default_root(), outputs):
            writers = {o.id for o in stages if any(file == w.resolve() or w.resolve() in file.parents
                                                   for w in o.paths("writes", data))}
            assert writers <= upstream[stage.id], f"{stage.id} hashes {file}, written by {writers - upstream[stage.id]}"


def test_a_folder_of_yours_inside_the_profiles_data_folder_counts_whole(tmp_path):
    """``cp -r data/smoke/atlas_ecal data/smoke/mine`` and ``-p data_dir=data/smoke/mine``: a
    file replaced in its ``scan`` subfolder reruns the resolution chapter (it was hashed flat)."""
    from analysis_lib.pipeline import default_root, stage_hash

    stage = next(s for s in _book_stages() if s.id == "detector/resolution")
    data = tmp_path / "data"
    (data / "mine" / "scan").mkdir(parents=True)
    (data / "mine" / "scan" / "gamma_40GeV.h5").write_bytes(b"one seed")
    outputs = [w for s in _book_stages() for w in s.paths("writes", data)]
    parameters = {**stage.resolved_parameters("smoke", data), "data_dir": str(data / "mine")}
    before = stage_hash(stage, parameters, data, default_root(), outputs)
    (data / "mine" / "scan" / "gamma_40GeV.h5").write_bytes(b"another seed")
    assert stage_hash(stage, parameters, data, default_root(), outputs) != before


def test_the_repository_folder_given_as_the_data_folder_counts_with_its_files(tmp_path):
    """``-p data_dir=.`` with the files in the repository's root: replacing one reruns."""
    from analysis_lib.pipeline import stage_inputs

    stage = next(s for s in _book_stages() if s.id == "photon_jets/explore")
    (tmp_path / "gamma_40-250GeV.h5").write_bytes(b"x")
    (tmp_path / "data" / "smoke").mkdir(parents=True)
    (tmp_path / "data" / "smoke" / "big.h5").write_bytes(b"not looked at: the repository's own data")
    found = stage_inputs(stage, {"data_dir": "."}, tmp_path / "data" / "smoke", tmp_path)
    assert (tmp_path / "gamma_40-250GeV.h5").resolve() in found
    assert (tmp_path / "data" / "smoke" / "big.h5").resolve() not in found


def test_a_matrix_value_that_is_also_a_folders_name_is_not_read_as_that_folder(tmp_path):
    """The scale chapter's ``gun="book"`` is a page's name, not the repository's ``book/``, whose
    executed notebooks change while the stage runs (its result was never stamped current)."""
    from analysis_lib.pipeline import stage_inputs

    stage = next(s for s in _book_stages() if s.id == "photon_jets/scale/book")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "page.ipynb").write_text("{}")
    found = stage_inputs(stage, {"gun": "book", "task": "axion1"}, tmp_path / "data" / "book", tmp_path)
    assert (tmp_path / "book" / "page.ipynb").resolve() not in found
    (tmp_path / "keep").mkdir()  # nor is a setting's word (LArTPC's negative_cells="keep") a folder of that name
    (tmp_path / "keep" / "x.h5").write_bytes(b"x")
    assert not stage_inputs(stage, {"negative_cells": "keep"}, tmp_path / "data" / "book", tmp_path)


def test_a_stage_hash_covers_the_other_profiles_values_its_page_quotes(tmp_path):
    """A page may quote another profile's values from stages.yml (a size, a run command): editing
    the ``full`` profile's entry of a stage reruns its smoke run too."""
    from dataclasses import replace

    from analysis_lib.pipeline import default_root, stage_hash

    stage = next(s for s in _book_stages() if s.id == "photon_jets/gap")
    parameters = stage.resolved_parameters("smoke", tmp_path)
    edited = replace(stage, parameters={**stage.parameters, "full": {**stage.parameters["full"],
                                                                      "ladder_events_per_class": 7}})
    assert stage_hash(edited, parameters, tmp_path, default_root()) != stage_hash(stage, parameters, tmp_path,
                                                                                  default_root())


def test_a_read_of_a_parent_folder_waits_for_its_writers_and_two_stages_never_share_an_output(tmp_path):
    from analysis_lib.pipeline import dependencies

    (tmp_path / "n.ipynb").write_text(nbformat.writes(new_notebook()))
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - {id: a/read, notebook: n.ipynb, reads: ["{data}"]}
          - {id: a/write, notebook: n.ipynb, writes: ["{data}/a"]}
    """))
    assert dependencies(load_stages(tmp_path / "stages.yml"))["a/read"] == {"a/write"}
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - {id: a/one, notebook: n.ipynb, writes: ["{data}/a"]}
          - {id: a/two, notebook: n.ipynb, writes: ["{data}/a/b.h5"]}
    """))
    with pytest.raises(PipelineError, match="stages 'a/one' and 'a/two' both write"):
        load_stages(tmp_path / "stages.yml")


def test_editing_one_module_reruns_only_the_stages_that_import_it(tmp_path, monkeypatch):
    import shutil

    from analysis_lib.pipeline import hashing

    stages = _book_stages()
    monkeypatch.setattr(hashing, "default_root", lambda root=hashing.default_root(): root)
    library = tmp_path / "analysis_lib"
    shutil.copytree(hashing.LIBRARY_DIR, library, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(hashing, "LIBRARY_DIR", library)
    before = _hashes(stages, tmp_path / "data")
    with open(library / "cuts.py", "a") as f:
        f.write("\n# an edit to the cut-based menu\n")
    after = _hashes(stages, tmp_path / "data")
    assert {s for s in before if before[s] != after[s]} == {"photon_id/cut_based"}
    with open(library / "detectors" / "lartpc.py", "a") as f:
        f.write("\n# an edit to the LArTPC simulation\n")
    again = _hashes(stages, tmp_path / "data")
    changed = {s for s in again if again[s] != after[s]}
    assert changed == {"lartpc/data", "lartpc/train", "lartpc/explain"}  # the LArTPC study only
    with open(library / "studies" / "shashlik.py", "a") as f:
        f.write("\n# an edit to the shashlik study\n")
    changed = {s for s, h in _hashes(stages, tmp_path / "data").items() if h != again[s]}
    assert changed == {"shashlik/one_photon", "shashlik/two_photons", "shashlik/compare"}  # the shashlik study only


def test_every_notebook_default_and_profile_value_is_within_its_range(tmp_path):
    from analysis_lib.pipeline import check_parameters, check_range, notebook_parameters

    stages = _book_stages()
    for stage in stages:
        for name, value in notebook_parameters(stage.notebook).items():
            check_range(name, value)
    for profile in ("smoke", "book", "full"):
        check_parameters(stages, profile, {}, tmp_path)


def test_the_results_page_reads_every_headline_declared_once_in_the_stage_list():
    from analysis_lib.pipeline import dependencies, headline_files

    stages = _book_stages()
    headlines = headline_files(stages, "/d")
    studies = {"detector", "photon_jets", "photon_id", "shashlik", "ldmx", "lartpc"}
    assert {s.split("/")[0] for s in headlines} == studies
    for stage in stages:
        for path in headlines.get(stage.id, []):  # a stage's headline is one of its own outputs
            assert any(path == w or w in path.parents for w in stage.paths("writes", "/d")), (stage.id, path)
    assert dependencies(stages)["results/results"] == set(headlines)


def test_a_profiles_results_page_reads_the_headlines_of_the_stages_it_runs_and_no_others():
    """The book profile leaves scalar1 and axion2 of the photon-jet models out: its results page
    neither waits for their headline tables nor misses one of the stages it runs."""
    stages = _book_stages()
    for profile in ("book", "full"):
        running = select(stages, None, profile)
        results = next(s for s in running if s.id == "results/results")
        left_out = {h for s in stages if profile not in s.profiles for h in s.headlines}
        assert not left_out & set(results.reads)
        assert {h for s in running for h in s.headlines} <= set(results.reads)
    assert any("book" not in s.profiles and s.headlines for s in stages)  # the book profile does leave some out


def test_a_parameter_names_its_profile_with_a_placeholder(tmp_path):
    """``{profile}`` in stages.yml is the profile's name (the results page shows what its profile
    ran, a scaled run's too), as ``{data}`` is its data folder."""
    from analysis_lib.pipeline import check_parameters

    stages = _book_stages()
    for profile in ("smoke", "book", "full"):
        for scale in (1, 0.5):
            resolved = check_parameters(stages, profile, {}, tmp_path, scale=scale)["results/results"]
            assert resolved == {"data_dir": str(tmp_path), "profile": profile}


# -- a profile at reduced size, and what each stage costs ---------------------------------
def test_a_scaled_profile_shrinks_event_counts_and_epochs_never_below_smoke():
    from pathlib import Path

    from analysis_lib.pipeline import Stage, scale_profile

    stage = Stage("s/train", Path("train.ipynb"), parameters={
        "smoke": {"n_events": 300, "epochs": 1, "training_events_per_class": [100, 200]},
        "full": {"n_events": 100000, "epochs": 60, "patience": 8, "training_events_per_class": [3000, 10000, 30000]}})
    defaults = {"n_events": 10, "epochs": 20, "patience": 5, "n_bins": 16, "n_trees": 300, "n_explain": 500,
                "training_events_per_class": [1000], "learning_rate": 0.01}
    scaled = scale_profile(stage, "full", 0.01, defaults)
    assert scaled == {"n_events": 1000, "epochs": 1, "n_explain": 20, "training_events_per_class": [100, 300]}
    assert scale_profile(stage, "full", 1, defaults)["n_events"] == 100000
    for bad in (0, 1.5, "half"):
        with pytest.raises(ParameterError, match="--scale must be"):
            scale_profile(stage, "full", bad, defaults)


def test_every_stage_reports_its_peak_memory_and_a_scaled_run_keeps_to_its_own_folders(project):
    from nbformat.v4 import new_markdown_cell

    notebook = nbformat.read(project / "notebooks/s/make.ipynb", as_version=4)
    notebook.cells.insert(0, new_markdown_cell("# Make numbers"))
    nbformat.write(notebook, project / "notebooks/s/make.ipynb")
    messages = []
    stages = load_stages(project / "stages.yml")
    pipeline = Pipeline(stages, profile="smoke", root=project, book_dir=project / "book", log=messages.append,
                        scale=0.5)
    results = pipeline.run()
    assert pipeline.data_dir == project / "data" / "smoke-scaled-0.5" and (pipeline.data_dir / "sum.txt").exists()
    for result in results:
        assert 0.01 < result.record["peak_memory_gib"] < 64, result  # a Python kernel: tens of MiB at least
    assert sum("peak memory" in m for m in messages) == len(stages)
    page = nbformat.read(project / "book/s/make.ipynb", as_version=4)
    peak = next(c for c in page.cells if c.get("id") == "peak-memory")
    assert "remove-cell" in peak.metadata["tags"] and "peak_memory_gib" in peak.source
    assert "--profile smoke --only s/make --scale 0.5" in page.cells[-1].source  # the page ends with its command
    assert "`smoke` profile of `stages.yml`, its event counts and epochs scaled by 0.5" in page.cells[0].source


def test_a_claim_that_does_not_hold_is_said_otherwise_and_listed_by_page(project):
    """A page's conclusion is a check on its own numbers: where it fails, the page shows
    what was measured instead, and the summary and the table name the claim and the page."""
    from analysis_lib.pipeline import results_table, summary_table
    from analysis_lib.reporting import read_claims

    _notebook(project / "notebooks/t/other.ipynb", 'scale = 1.5\n', """
        from analysis_lib.reporting import claim
        claim("scale above one", scale > 1, f"The scale, {scale}, is above one.", f"The scale is only {scale}.")
    """)
    for scale, holds in ((1.5, True), (0.5, False)):
        pipeline = _pipeline(project, overrides={"scale": scale})
        results = {r.stage: r for r in pipeline.run()}
        page = pipeline.output_notebook(next(s for s in pipeline.stages if s.id == "t/other"))
        cells = nbformat.read(page, as_version=4).cells
        shown = [o["data"]["text/markdown"] for c in cells if c.get("id") != "page-claims"
                 for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
        assert shown == ([f"The scale, {scale}, is above one."] if holds else [f"The scale is only {scale}."])
        note = next(c for c in cells if c.get("id") == "page-claims").outputs[0]["data"]["text/markdown"]
        assert note.startswith("*This run decided 1 claim here (" + ("all held" if holds else "0 held") + ")")
        assert read_claims(page) == {"scale above one": holds}
        summary = summary_table(list(results.values()))
        assert ("t/other: scale above one" in summary) is not holds
        assert results_table(list(results.values())).loc["t/other", "claims_not_held"] == ("" if holds else
                                                                                             "scale above one")


def test_the_terminal_gets_a_line_per_stage_and_progress_and_the_kernels_own_lines_go_to_its_log(
        tmp_path, monkeypatch, capfd):
    """TensorFlow and oneDNN print from C++ into the kernel's stderr: 120 such lines on a
    smoke run, and nothing at all during a 200-second stage."""
    from analysis_lib.pipeline import runner

    _notebook(tmp_path / "notebooks/s/noisy.ipynb", 'seconds = 3\n', """
        import os
        import time
        os.write(2, b"All log messages before absl::InitializeLog() is called are written to STDERR\\\\n")
        time.sleep(seconds)
    """)
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - id: s/noisy
            notebook: notebooks/s/noisy.ipynb
          - id: s/quiet
            notebook: notebooks/s/noisy.ipynb
            parameters:
              all: {seconds: 0}
    """))
    monkeypatch.setattr(runner, "PROGRESS_EVERY_S", 1)
    said = []
    pipeline = Pipeline(load_stages(tmp_path / "stages.yml"), profile="smoke", root=tmp_path,
                        data_dir=tmp_path / "data", book_dir=tmp_path / "book", jobs=1, log=said.append)
    assert _status(pipeline.run()) == {"s/noisy": "ran", "s/quiet": "ran"}
    assert "absl" not in capfd.readouterr().err
    assert "absl::InitializeLog" in pipeline.kernel_log(pipeline.stages[0]).read_text()
    assert [line.split()[1] for line in said if line.startswith("[done]")] == ["[1/2]", "[2/2]"]
    quiet = [i for i, line in enumerate(said) if line.startswith(("[running] s/quiet", "[working] s/quiet"))]
    assert said[quiet[0]].startswith("[running]")  # while queued, it is not said to be working
    assert any(re.match(r"\[working\] s/noisy: cell 2 of 3, 0 min 0\d s so far", line) for line in said), said


def test_a_stage_writes_where_its_output_parameters_say():
    """A parameter's role is in its name: a stage's writes are its ``output_dir``,
    ``*_output_dir`` and ``output`` values (or files listed inside them), and no other
    parameter of any stage names one of its writes, so no rule guesses an output."""
    from analysis_lib.stage_list import is_output_parameter

    stages = {stage.id: stage for stage in _book_stages()}
    assert stages["detector/simulate"].writes == ["{data}/atlas_ecal"]
    assert stages["photon_jets/bdt/axion1"].writes == ["{data}/photon_jets/axion1/bdt",
                                                       "{data}/photon_jets/axion1/gbdt"]
    assert stages["photon_jets/compare/axion1"].writes == ["{data}/photon_jets/axion1/compare/headline.csv"]
    assert stages["shashlik/simulate"].writes == ["{data}/shashlik/gamma.h5", "{data}/shashlik/diphoton.h5"]
    for stage in stages.values():
        outputs = {name for profile in stage.parameters.values() for name in profile if is_output_parameter(name)}
        assert outputs or not stage.writes, stage.id
        for name, value in stage.parameters.get("all", {}).items():
            if not is_output_parameter(name):
                assert value not in stage.writes, (stage.id, name)


def test_hashing_stops_at_ctrl_c_and_names_a_file_it_cannot_read(tmp_path):
    """Ctrl-C while a stage hashes a large file of yours stops within a block, not after the
    file (it printed [stopping] and then ran the stage); a file gone or unreadable while
    hashed is one sentence, not a FileNotFoundError from deep inside."""
    import threading

    from analysis_lib.errors import DataFileError
    from analysis_lib.pipeline import default_root, stage_hash
    from analysis_lib.pipeline.hashing import HashingStopped, _file_digest

    stage = next(s for s in _book_stages() if s.id == "photon_id/cut_based")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "radiative_z_jet.h5").write_bytes(b"x" * (3 << 20))
    stop = threading.Event()
    stop.set()
    with pytest.raises(HashingStopped):
        stage_hash(stage, {"data_dir": str(mine)}, tmp_path / "data", default_root(), stop=stop)
    with pytest.raises(DataFileError, match="cannot read .*gone.h5 to tell whether it changed"):
        _file_digest(mine / "gone.h5")


def test_a_lock_that_cannot_be_taken_is_one_sentence(project):
    """A folder where the run's lock file goes, or a lock file that cannot be opened: a
    sentence naming it, not "in use by another run" and not a traceback."""
    (project / "data" / ".pipeline.lock").mkdir(parents=True)
    with pytest.raises(PipelineError, match=r"\.pipeline\.lock is a folder, not this pipeline's lock file"):
        _pipeline(project).run()


def test_a_run_refused_its_lock_leaves_no_folder_it_made(project):
    """A new data folder beside a book folder held by another run: the refusal takes the new
    folder (and its lock file) away again, as if the run had never started."""
    import filelock

    from analysis_lib.pipeline import Pipeline

    book = project / "book"
    book.mkdir()
    with filelock.FileLock(book / ".pipeline.lock", timeout=0):
        pipeline = Pipeline(load_stages(project / "stages.yml"), profile="smoke", root=project,
                            data_dir=project / "new" / "data", book_dir=book, log=lambda message: None)
        with pytest.raises(PipelineError, match="is in use by"):
            pipeline.run()
    assert not (project / "new").exists()


def test_a_stage_list_without_its_list_names_the_key(project):
    (project / "stages.yml").write_text("stages:\n")
    with pytest.raises(PipelineError, match="stages.yml, key 'stages': it must be a list, got None"):
        load_stages(project / "stages.yml")


def test_a_hidden_subfolder_is_never_entered_while_looking_for_inputs(tmp_path, monkeypatch):
    """``-p data_dir=~`` walked every cache below the home folder (43 s to find nothing): hidden
    folders are left out before they are listed, not after."""
    import os

    from analysis_lib.pipeline.hashing import _visible_files

    (tmp_path / "showers.h5").write_bytes(b"x")
    for depth in range(3):
        nested = tmp_path / ".cache" / "/".join(f"d{i}" for i in range(depth + 1))
        nested.mkdir(parents=True, exist_ok=True)
        (nested / "blob.bin").write_bytes(b"y")
    (tmp_path / "mine" / ".partial").mkdir(parents=True)
    (tmp_path / "mine" / "numbers.txt").write_text("1")
    listed = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": listed.append(str(path)) or scandir(path))
    found = _visible_files(tmp_path)
    assert found == [tmp_path / "mine" / "numbers.txt", tmp_path / "showers.h5"]
    assert not [path for path in listed if "/." in path], listed


def test_each_run_sizes_its_kernels_thread_pools_to_its_own_jobs(tmp_path, monkeypatch):
    """Two runs in one process (a test session, a notebook) with different ``jobs``: each one's
    kernels get their share of the cores, and the process's own environment is left as it was."""
    import os

    from analysis_lib.pipeline.runner import kernel_thread_settings

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # the share differs between 1 and 2 jobs on any machine
    _notebook(tmp_path / "notebooks/s/threads.ipynb", 'out = "threads.txt"\n', """
        import os
        from pathlib import Path
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(os.environ.get("OMP_NUM_THREADS", "unset"))
    """)
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - id: s/threads
            notebook: notebooks/s/threads.ipynb
            writes: ["{data}/threads"]
            parameters:
              all: {out: "{data}/threads/threads.txt"}
    """))
    for jobs in (1, 2):
        pipeline = Pipeline(load_stages(tmp_path / "stages.yml"), profile="smoke", root=tmp_path, jobs=jobs,
                            data_dir=tmp_path / f"data{jobs}", book_dir=tmp_path / f"book{jobs}", log=lambda m: None)
        assert _status(pipeline.run()) == {"s/threads": "ran"}
        seen = (tmp_path / f"data{jobs}/threads/threads.txt").read_text()
        assert seen == kernel_thread_settings(jobs, cores=4)["OMP_NUM_THREADS"] == str(4 // jobs)
        assert "OMP_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own value is kept
    pipeline = Pipeline(load_stages(tmp_path / "stages.yml"), profile="smoke", root=tmp_path, jobs=2,
                        data_dir=tmp_path / "data3", book_dir=tmp_path / "book3", log=lambda m: None)
    pipeline.run()
    assert (tmp_path / "data3/threads/threads.txt").read_text() == "3"
