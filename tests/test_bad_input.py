"""Every bad input of the README's table, one row a test: a one-sentence error and exit
status 2 from the command line (or the library's own error class), never a traceback."""

import contextlib
import re
import resource
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from analysis_lib.cli import main
from analysis_lib.detectors import ATLAS_ECAL, PHOTON_ID_ECAL, SHASHLIK_ECAL
from analysis_lib.simulation import simulate_to_files
from analysis_lib.errors import AnalysisError

from .conftest import FOREIGN_ROOT

README = Path(__file__).resolve().parents[1] / "README.md"


def _h5(path, shapes=ATLAS_ECAL.layer_shapes, n=4, fill=1.0, skip=(), units=None):
    with h5py.File(path, "w") as f:
        for i, shape in enumerate(shapes):
            if i not in skip:
                f[f"layer_{i}"] = np.full((n,) + tuple(shape), fill, np.float32)
        if units is not None:
            f.attrs["units"] = units
    return path


def _versioned_h5(tmp):
    """A user's file whose converter records its own version, as many do."""
    with h5py.File(_h5(tmp / "versioned.h5"), "a") as f:
        f.attrs.update({"library_version": "2.4.1", "creator": "my-daq-converter"})
    return tmp


def _tree(path, name, branches):
    with uproot.recreate(path) as f:
        f.mktree(name, {k: v.type for k, v in branches.items()})
        f[name].extend(branches)
    return path


def _truncated(tmp, suffix):
    path = simulate_to_files(ATLAS_ECAL, "gamma", 40, [tmp / f"full{suffix}"], progress=False)[0]
    data = path.read_bytes()
    (tmp / f"cut{suffix}").write_bytes(data[: len(data) // 3])
    return tmp / f"cut{suffix}"


def _photon_id_strips(tmp):
    shapes = list(PHOTON_ID_ECAL.layer_shapes)
    shapes[1] = (2, 50)
    return _h5(tmp / "cluster.h5", shapes)


def _file(name, data):
    def make(tmp):
        path = tmp / name
        path.write_bytes(data)
        return path
    return make


HITS = {k: ak.Array([[1.0, 2.0], [3.0]]) for k in ("x", "y", "z", "E")}


def _two_shower_trees(tmp):
    layers = {f"layer_{i}": np.zeros((2,) + tuple(shape), np.float32) for i,
              shape in enumerate(ATLAS_ECAL.layer_shapes)}
    with uproot.recreate(tmp / "f.root") as f:
        for name in ("run1", "run2"):
            f.mktree(name, {k: np.dtype((v.dtype, v.shape[1:])) for k, v in layers.items()})
            f[name].extend(layers)
    return tmp / "f.root"


def _odd_layer_2(kind):
    """A shower file whose layer_2 is an HDF5 group, a link to another file, a single
    number, a soft link to nothing, float64 beyond float32's range or complex; or
    whose truth links to another file."""
    def make(tmp):
        path = _h5(tmp / "f.h5", skip=(2,))
        with h5py.File(path, "a") as f:
            if kind == "group":
                f.create_group("layer_2")
            elif kind == "link":
                f["layer_2"] = h5py.ExternalLink("elsewhere.h5", "layer_2")
            elif kind == "scalar":
                f["layer_2"] = 1.0
            elif kind == "dangling":
                f["layer_2"] = h5py.SoftLink("/nowhere")
            elif kind == "truth link":
                f["layer_2"] = np.ones((4, 16, 16), np.float32)
                f["energy"] = h5py.ExternalLink("elsewhere.h5", "energy")
            elif kind == "float64 overflow":
                f["layer_2"] = np.full((4, 16, 16), 1e300)
            else:
                f["layer_2"] = np.ones((4, 16, 16), np.complex64)
        return path
    return make


def _stage_list(entry, notebook=True):
    """A stage list of one stage, ``entry`` its lines after the id and notebook."""
    def make(tmp):
        if notebook:
            (tmp / "n.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        (tmp / "s.yml").write_text("stages:\n  - id: a/b\n    notebook: n.ipynb\n" +
                                   "".join(f"    {line}\n" for line in entry.splitlines()))
        return tmp
    return make


def _run_stage_list(tmp):
    return ["run", "--stages", str(tmp / "s.yml")]


def _root_attrs_list(tmp):
    path = _tree(tmp / "f.root", "showers", {f"layer_{i}": ak.Array([np.zeros(a * b)])
                                             for i, (a, b) in enumerate(ATLAS_ECAL.layer_shapes)})
    with uproot.update(path) as f:
        f["attrs"] = "[1, 2]"
    return path


def _lambda_model(tmp):
    import keras

    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: 2 * x)(inputs)).save(tmp / "m.keras")
    return tmp / "m.keras"


def _simulate(*extra, detector="atlas-ecal", particle="gamma"):
    return lambda t: ["simulate", detector, "--particle", particle, "--events", "5", "--quiet",
                      *[str(a).replace("TMP", str(t)) for a in extra]]


@contextlib.contextmanager
def _disk_full_after(n_bytes):
    """Writes past ``n_bytes`` fail as on a full disk (the file-size limit; Python ignores SIGXFSZ)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _inspect(*extra):
    return lambda path: ["inspect", str(path), *extra]


def _run(*parameters, only="photon_id/explore", extra=()):
    return lambda tmp: ["run", "--only", only, "--data-dir", str(tmp / "data"), "--book-dir",
                        str(tmp / "book"), *[a for p in parameters for a in ("-p", p)],
                        *[str(a).replace("TMP", str(tmp)) for a in extra]]


def _text(name, text):
    return lambda tmp: (tmp / name).write_text(text) and tmp


#: README row -> (make the input in a temporary folder, command line, words the error must hold)
CASES = {
    "missing file": (lambda t: t / "nothing.h5", _inspect(), "no such file"),
    "empty file": (_file("e.h5", b""), _inspect(), "is empty"),
    "not HDF5 or ROOT": (_file("x.h5", b"a,b\n1,2\n"), _inspect(), "neither an HDF5 nor a ROOT file"),
    "truncated HDF5": (lambda t: _truncated(t, ".h5"), _inspect(), "truncated or corrupted"),
    "truncated ROOT": (lambda t: _truncated(t, ".root"), _inspect(), "truncated or corrupted"),
    "missing layer": (lambda t: _h5(t / "f.h5", skip=(2,)), _inspect(), "no dataset 'layer_2'"),
    "missing ROOT branch": (lambda t: _tree(t / "f.root", "showers", {"layer_0": ak.Array([np.zeros(64)])}),
                            _inspect(), "no tree with branches layer_0 ... layer_3; looked at TTree 'showers'"),
    "only an RNTuple": (lambda t: Path(FOREIGN_ROOT / "rntviewer-testfile-uncomp-single-rntuple-v1-0-0-0.root"),
                        _inspect(), "looked at RNTuple 'Contributors' (RNTuples are not read"),
    "several trees with the layers": (_two_shower_trees, _inspect(), "name one with the tree option"),
    "wrong cell grid": (lambda t: _h5(t / "f.h5", [(4, 16), (4, 64), (16, 16), (16, 8)]), _inspect(),
                        "expected (4, 128)"),
    "photon-ID image of the wrong shape": (_photon_id_strips, _inspect("--detector", "photon-id"), "expected (2, 56)"),
    "NaN energies": (lambda t: _h5(t / "f.h5", fill=np.nan), _inspect(), "NaN or infinite"),
    "negative energies, refused on request": (lambda t: _h5(t / "f.h5", fill=-1.0),
                                              _inspect("--negative-cells", "refuse"), "negative cell energies"),
    "unknown units": (lambda t: _h5(t / "f.h5", units="ADC"), _inspect(), "unknown units 'ADC'"),
    "units given as an array": (lambda t: _h5(t / "f.h5", units=np.array([b"MeV", b"GeV"])), _inspect(),
                                "units attribute as ndarray"),
    "a layer that is an HDF5 group": (_odd_layer_2("group"), _inspect(), "is an HDF5 group, not a dataset"),
    "a layer that links to another file": (_odd_layer_2("link"), _inspect(), "is a link to elsewhere.h5"),
    "complex-valued cells": (_odd_layer_2("complex"), _inspect(), "holds complex64 values, not real numbers"),
    "no events": (lambda t: _h5(t / "f.h5", n=0), _inspect(), "holds no events"),
    "jagged layers of unequal length": (
        lambda t: _tree(t / "f.root", "showers", {f"layer_{i}": ak.Array([np.zeros(a * b), np.zeros(a * b - (i == 1))])
                                                  for i, (a, b) in enumerate(ATLAS_ECAL.layer_shapes)}),
        _inspect(), "per-event lengths"),
    "hits tree without a branch": (lambda t: _tree(t / "h.root", "ecalHits", {k: HITS[k] for k in "xyz"}),
                                   _inspect("--detector", "ldmx-ecal"), "lacks the branch(es) E"),
    "hit branches of unequal length": (
        lambda t: _tree(t / "h.root", "ecalHits", dict(HITS, E=ak.Array([[1.0, 2.0], [3.0, 4.0]]))),
        _inspect("--detector", "ldmx-ecal"), "must have equal lengths"),
    "ROOT file without hits": (lambda t: _tree(t / "h.root", "other", {"a": ak.Array([[1.0]])}),
                               _inspect("--detector", "ldmx-ecal"),
                               "no hits this library recognises (looked at TTree 'other')"),
    "hits layout that does not parse": (lambda t: _tree(t / "h.root", "ecalHits", HITS),
                                        _inspect("--detector", "ldmx-ecal", "--hits", "ecalHits:x,y"), "TREE:X,Y,Z,E"),
    "LDMX hits of negative energy, refused on request": (
        lambda t: _tree(t / "h.root", "ecalHits", dict(HITS, E=ak.Array([[1.0, -0.5], [-2.0]]))),
        _inspect("--detector", "ldmx-ecal", "--negative-cells", "refuse"),
        "h.root has 2 hits of negative energy (lowest -2 MeV), refused as asked"),
    "simulation over a file it did not write": (
        lambda t: _h5(t / "mine.h5").parent,
        lambda t: ["simulate", "atlas-ecal", "--particle", "gamma", "--events", "5", "--out", str(t / "mine.h5")],
        "was not written by this library"),
    "a shashlik file without the photons' truth": (
        lambda t: _h5(t / "g.h5", SHASHLIK_ECAL.layer_shapes), _inspect("--detector", "shashlik"),
        "g.h5 has no truth 'photon_x_mm': the shashlik chapters need photon_x_mm, photon_y_mm, photon_energy_gev"),
    "simulation over a file of another program that records its version": (
        _versioned_h5,
        lambda t: ["simulate", "atlas-ecal", "--particle", "gamma", "--events", "5", "--out", str(t / "versioned.h5")],
        "versioned.h5 exists and was not written by this library"),
    "ROOT attributes that are not a JSON object": (_root_attrs_list, _inspect(), "is not a JSON object"),
    "hits with NaN energies": (lambda t: _tree(t / "h.root", "ecalHits", dict(HITS, E=ak.Array([[1.0, np.nan],
                                                                                                [3.0]]))),
                               _inspect("--detector", "ldmx-ecal"), "hold NaN or infinity (first in event 0)"),
    "model file from elsewhere": (_file("m.keras", b"PK\x03\x04 not a model"), _inspect(), "not a Keras model"),
    "model with a Lambda layer": (_lambda_model, _inspect(), "holds a Lambda layer"),
    "corrupted ONNX model": (_file("m.onnx", b"\x08\x07garbage"), _inspect(), "not an ONNX model"),
    "unknown notebook parameter": (lambda t: t, _run("n_event=10"), "n_event"),
    "ill-typed notebook parameter": (lambda t: t, _run("n_train=many"), "n_train"),
    "unknown stage": (lambda t: t, lambda t: ["run", "--only", "photon_idd", "--data-dir", str(t / "d")], "photon_idd"),
    "unknown particle": (lambda t: t, lambda t: ["simulate", "photon-id", "--particle", "pion", "--events", "5",
                                                 "--out", str(t / "x.h5")], "unknown particle 'pion'"),
    "no events asked for": (lambda t: t, lambda t: ["simulate", "atlas-ecal", "--particle", "gamma", "--events", "0",
                                                    "--out", str(t / "x.h5")], "positive integer"),
    "a seed out of range": (lambda t: t, _simulate("--seed", -1, "--out", "TMP/x.h5"), "--seed must be a whole number"),
    "an energy that is not finite": (lambda t: t, _simulate("--energy", "inf", "--out", "TMP/x.h5"),
                                     "--energy must be two finite energies"),
    "an option the detector ignores": (lambda t: t, _simulate("--mass", 3, "--out", "TMP/x.h5", detector="shashlik"),
                                       "shashlik takes no --mass"),
    "output that is a folder": (lambda t: t, _simulate("--out", "TMP"), "is a folder, not a file name"),
    "the same output twice": (lambda t: t, _simulate("--out", "TMP/x.h5", "--out", "TMP/x.h5"), "is given twice"),
    "a second output for the LDMX hits": (lambda t: t, _simulate("--out", "TMP/a.root", "--out", "TMP/b.root",
                                                                 detector="ldmx-ecal", particle="background"),
                                          "give one --out"),
    "an output folder that cannot be written": (lambda t: t, _simulate("--out", "/sys/analysis_lib_test/x.h5"),
                                                "cannot write into /sys/analysis_lib_test"),
    "a full disk while writing": (lambda t: t, _simulate("--out", "TMP/x.h5", "--out", "TMP/x.root", "--events", 3000),
                                  "could not write", lambda: _disk_full_after(200_000)),
    "no workers for a local cluster": (lambda t: t, _simulate("--out", "TMP/x.h5", "--scheduler", "local", "--workers",
                                                              0),
                                       "--workers must be at least 1"),
    "a parameter out of its range": (lambda t: t, _run("epochs=0", only="photon_id/hybrid_cnn"),
                                     "'epochs' must be a whole number of at least 1"),
    "an empty learning-rate schedule": (lambda t: t, _run("learning_rates=[]", only="photon_jets/cnn/axion1"),
                                        "'learning_rates' must be a non-empty list"),
    "no parallel jobs": (lambda t: t, _run(extra=("--jobs", 0)), "--jobs must be at least 1"),
    "a data folder that is a file": (_text("f.txt", "x"), lambda t: ["run", "--only", "photon_id/explore", "--data-dir",
                                                                     str(t / "f.txt")], "is a file"),
    "a data folder that cannot be written": (lambda t: t, lambda t: ["run", "--only", "photon_id/explore", "--data-dir",
                                                                     "/sys/analysis_lib_test", "--book-dir",
                                                                     str(t / "b")],
                                             "cannot create the data folder"),
    "a stage list that is not YAML": (_text("s.yml", "stages:\n  - id: [x\n"),
                                      _run_stage_list, "is not valid YAML (line 3)"),
    "a layer that is a single number": (_odd_layer_2("scalar"), _inspect(), "layer_2 in "),
    "a layer that is a soft link to nothing": (_odd_layer_2("dangling"), _inspect(),
                                               "is a soft link to /nowhere, which is not in the file"),
    "a truth dataset that links to another file": (_odd_layer_2("truth link"), _inspect(),
                                                   "energy in "),
    "cells beyond float32's range": (_odd_layer_2("float64 overflow"), _inspect(),
                                     "has cell energies beyond float32's range (up to 1e+300, event 0)"),
    "a misspelt key in the stage list": (_stage_list("reed: [x]"), _run_stage_list,
                                         "s.yml, stage 'a/b': unknown key 'reed'"),
    "a read given as one path, not a list": (_stage_list('reads: "{data}/x"'),
                                             _run_stage_list,
                                             "stage 'a/b': reads must be a list, got '{data}/x'"),
    "a matrix that is not a list": (_stage_list("matrix: {task: axion1}"),
                                    _run_stage_list,
                                    "stage 'a/b': matrix.task must be a list, got 'axion1'"),
    "stage parameters that are not a mapping": (_stage_list("parameters: {all: [1, 2]}"),
                                                _run_stage_list,
                                                "stage 'a/b': parameters.all must be a mapping"),
    "a read that no stage writes": (_stage_list('reads: ["{data}/x.h5"]'),
                                    _run_stage_list,
                                    "stage 'a/b': reads {data}/x.h5, which no stage writes"),
    "a write outside the stage's output folders": (
        _stage_list('writes: ["{data}/elsewhere.h5"]\nparameters:\n  all: {output_dir: "{data}/mine"}'),
        _run_stage_list, "stage 'a/b': writes {data}/elsewhere.h5, which lies in none of its output folders"),
    "an output folder set per profile": (_stage_list('parameters:\n  smoke: {output_dir: "{data}/mine"}'),
                                         _run_stage_list,
                                         "stage 'a/b': its output parameter 'output_dir' is set for the smoke profile"),
    "an unknown profile": (lambda t: t, lambda t: ["stages", "--profile", "nosuch"], "unknown profile 'nosuch'"),
    "a book folder that cannot be written": (lambda t: t, lambda t: ["run", "--only", "photon_id/explore", "--data-dir",
                                                                     str(t / "d"), "--book-dir",
                                                                     "/sys/analysis_lib_test"],
                                             "cannot create the book folder /sys/analysis_lib_test"),
    "a folder of yours that does not exist": (lambda t: t, _run(only="photon_id/cut_based",
                                                                extra=("-p", "data_dir=TMP/mine")),
                                              "-p data_dir="),
    "a matrix value set with -p": (lambda t: t, _run("task=scalar1", only="photon_jets/bdt/axion1"),
                                   "task is the matrix of photon_jets/bdt"),
    "a window that is not a number": (lambda t: t, _run("window_half_width_rad=NaN", only="detector/resolution"),
                                      "'window_half_width_rad' must be a finite angle above 0, got nan"),
    "no events per class": (lambda t: t, _run("events_per_class=0", only="photon_jets/bdt/axion1"),
                            "'events_per_class' must be a whole number of at least 1, got 0"),
    "a mass that is not a number": (lambda t: t, _run("mass_gev=NaN", only="detector/simulate"),
                                    "'mass_gev' must be a finite mass above 0, got nan"),
    "an empty folder parameter": (lambda t: t, _run("data_dir=", only="photon_id/cut_based"),
                                  "-p data_dir='': name a file or folder"),
    "a task the stage list does not run": (lambda t: t, _run('original_wiring_tasks=["nosuch"]',
                                                             only="photon_jets/cnn/axion1"),
                                           "names 'nosuch', which is no task of the stage list"),
    "a page the profile does not run": (lambda t: t, _run(only="photon_jets/cnn/scalar1"),
                                        "the book profile does not run 'photon_jets/cnn/scalar1'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_one_sentence_and_exit_status_2(case, tmp_path, capsys):
    make, command, words, *conditions = CASES[case]
    argv = command(make(tmp_path))
    before = {p for p in tmp_path.rglob("*")}
    with conditions[0]() if conditions else contextlib.nullcontext():
        status = main(argv)
    assert status == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and len(error.splitlines()) == 1, error
    assert words in error and "Traceback" not in error
    assert {p for p in tmp_path.rglob("*")} == before  # nothing written, nothing half-written


def test_library_refuses_an_empty_histogram_and_an_empty_sample():
    from analysis_lib.studies.photon_id import hybrid_cnn_inputs
    from analysis_lib.fitting import fit_signal_yield
    from analysis_lib.io import ShowerSample

    edges = np.linspace(65, 105, 17)
    with pytest.raises(AnalysisError, match="no events"):
        fit_signal_yield(np.zeros(16), edges, np.ones(16))
    empty = ShowerSample([np.zeros((0,) + s, np.float32) for s in PHOTON_ID_ECAL.layer_shapes],
                         {"abs_eta": np.zeros(0), "hadronic_energy_gev": np.zeros(0)})
    with pytest.raises(AnalysisError, match="no events"):
        hybrid_cnn_inputs(empty, PHOTON_ID_ECAL)


def test_a_photon_jet_task_of_one_event_per_file_is_refused_naming_the_file(tmp_path):
    """Files in the published layout (plain h5py, one ``layer_<i>`` dataset each) holding one
    event: no page draws its conclusions from one photon."""
    from analysis_lib.studies.photon_jets import photon_jet_task

    for particle in ("gamma", "pi0", "axion1"):
        with h5py.File(tmp_path / f"{particle}_one.h5", "w") as f:
            for i, shape in enumerate(ATLAS_ECAL.layer_shapes):
                f[f"layer_{i}"] = np.ones((1, *shape), np.float32)
    with pytest.raises(AnalysisError, match=r"the gamma sample \(.*gamma_one.h5\) holds 1 event; .* at least 20"):
        photon_jet_task(tmp_path, "axion1", "one")


def test_a_relative_path_given_with_p_is_taken_from_the_working_folder(tmp_path, monkeypatch):
    """As --data-dir: from a folder of yours, -p data_dir=mine names ./mine, never the
    repository's folder of that name."""
    from analysis_lib.pipeline import check_parameters, default_root, load_stages

    (tmp_path / "mine").mkdir()
    monkeypatch.chdir(tmp_path)
    stages = [s for s in load_stages(default_root() / "stages.yml") if s.id == "photon_id/cut_based"]
    resolved = check_parameters(stages, "smoke", {"data_dir": "mine"}, tmp_path / "data", root=default_root())
    assert resolved["photon_id/cut_based"]["data_dir"] == str((tmp_path / "mine").resolve())


def test_the_readme_table_lists_exactly_these_cases():
    section = README.read_text().split("## Bad input", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \|", section, flags=re.M)
    assert [r for r in rows if r not in ("input", "---")] == list(CASES)


def test_training_refuses_no_epochs_no_batch_and_no_schedule_in_one_sentence():
    """A notebook run by hand (papermill, JupyterLab) gets the sentence, not Keras's KeyError."""
    import keras

    from analysis_lib.training import train_classifier

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    x, y = np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])
    for options, words in (({"epochs": 0}, "epochs must be"), ({"batch_size": 0}, "batch_size must be"),
                           ({"schedule": ()}, "schedule needs at least one")):
        with pytest.raises(AnalysisError, match=words):
            train_classifier(model, x, y, x, y, **options)


def test_checking_a_file_never_starts_tensorflow(tmp_path):
    """``inspect`` of an LDMX hits file took 26 s and printed TensorFlow's start-up lines
    before its one sentence: the study module imported Keras for its network."""
    import subprocess
    import sys

    hits = _tree(tmp_path / "h.root", "ecalHits", HITS)
    shashlik = simulate_to_files(SHASHLIK_ECAL, "gamma", 5, [tmp_path / "g.h5"], progress=False)[0]
    code = ("import sys; from analysis_lib.cli import main; "
            f"main(['inspect', {str(hits)!r}, '--detector', 'ldmx-ecal']); "
            f"main(['inspect', {str(shashlik)!r}, '--detector', 'shashlik']); "
            "print('imported:', sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "photons per event: 1" in done.stdout and "imported: []" in done.stdout, done.stdout
    assert done.stderr == ""


def test_each_detector_simulates_the_particles_and_takes_the_options_it_declares():
    """The command line reads both from the detector: adding a detector touches no table."""
    import inspect

    from analysis_lib.detectors import DETECTORS

    keyword = {"energy": "energy_range_gev", "mass": ("mass_gev", "mass_mev"), "process": "process"}
    for name, detector in DETECTORS.items():
        for particle in detector.particles:
            assert list(detector.simulate(particle, 2, seed=1)), (name, particle)
        with pytest.raises(AnalysisError):
            list(detector.simulate("no_such_particle", 2))
        accepted = inspect.signature(detector.simulate).parameters
        takes_any = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
        for option in detector.options:
            names = keyword[option] if isinstance(keyword[option], tuple) else (keyword[option],)
            assert takes_any or any(n in accepted for n in names), (name, option)


def test_root_cells_beyond_float32_are_named_as_such(tmp_path):
    """The ROOT reader converts float64 branches itself: 1e300 MeV would read as infinite."""
    from analysis_lib.io import read_showers

    layers = {f"layer_{i}": ak.Array(np.full((2, a * b), 1e300 if i == 2 else 1.0))
              for i, (a, b) in enumerate(ATLAS_ECAL.layer_shapes)}
    path = _tree(tmp_path / "f.root", "showers", layers)
    with pytest.raises(AnalysisError, match=r"layer_2 in .* beyond float32's range \(up to 1e\+300, event 0\)"):
        read_showers(path)
