"""Shower files: round trips, determinism, atomic writes and clear errors for bad input."""

import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
import uproot

from analysis_lib.detectors import ATLAS_ECAL
from analysis_lib.simulation import simulate_to_files
from analysis_lib.errors import DataFileError, EmptyDatasetError, ParameterError
from analysis_lib.io import read_showers, write_showers


def test_hdf5_and_root_hold_the_same_events(axion1_files):
    h5, root = read_showers(axion1_files[".h5"]), read_showers(axion1_files[".root"])
    assert len(h5) == len(root) == 1200
    for a, b in zip(h5.layers, root.layers):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    for key in ("energy_gev", "photon_energy_gev", "photon_theta_x_rad"):
        assert np.array_equal(h5.truth[key], root.truth[key])
    assert h5.attrs["particle"] == root.attrs["particle"] == "axion1"
    assert [layer.shape[1:] for layer in h5.layers] == list(ATLAS_ECAL.layer_shapes)


def test_root_file_is_a_ttree(axion1_files):
    with uproot.open(axion1_files[".root"]) as f:
        assert f.classnames()["showers;1"] == "TTree"
        assert f["showers"].num_entries == 1200


def test_partial_reads(axion1_files):
    part = read_showers(axion1_files[".h5"], start=100, stop=150)
    full = read_showers(axion1_files[".h5"])
    assert len(part) == 50 and np.array_equal(part.layers[1], full.layers[1][100:150])


def test_same_seed_gives_identical_files_and_other_seeds_differ(tmp_path):
    a = simulate_to_files(ATLAS_ECAL, "pi0", 1500, [tmp_path / "a.h5"], seed=9, progress=False)[0]
    b = simulate_to_files(ATLAS_ECAL, "pi0", 1500, [tmp_path / "b.h5"], seed=9, progress=False)[0]
    c = simulate_to_files(ATLAS_ECAL, "pi0", 1500, [tmp_path / "c.h5"], seed=10, progress=False)[0]
    sa, sb, sc = read_showers(a), read_showers(b), read_showers(c)
    assert all(np.array_equal(x, y) for x, y in zip(sa.layers, sb.layers))
    assert np.array_equal(sa.truth["photon_energy_gev"], sb.truth["photon_energy_gev"])
    assert not np.array_equal(sa.layers[2], sc.layers[2])


def test_cli_simulate_writes_both_formats(tmp_path):
    out = [tmp_path / "g.h5", tmp_path / "g.root"]
    result = subprocess.run([sys.executable, "-m", "analysis_lib", "simulate", "atlas-ecal", "--particle", "gamma",
                             "--events", "50", "--seed", "1", "--energy", "100", "--quiet",
                             "--out", str(out[0]), "--out", str(out[1])], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    sample = read_showers(out[1])
    assert len(sample) == 50 and np.allclose(sample.truth["energy_gev"], 100.0)


def test_interrupted_write_leaves_no_file(tmp_path):
    def chunks():
        yield next(ATLAS_ECAL.simulate("gamma", 10, seed=1))
        raise KeyboardInterrupt  # the user pressed Ctrl-C mid-way

    with pytest.raises(KeyboardInterrupt):
        write_showers(chunks(), [tmp_path / "x.h5", tmp_path / "x.root"], 20, {})
    assert list(tmp_path.iterdir()) == []


# -- bad input: one clear sentence each ------------------------------------------
def _write_h5(path, n=5, shapes=None, units=None, fill=1.0, skip=()):
    with h5py.File(path, "w") as f:
        for i, shape in enumerate(shapes or ATLAS_ECAL.layer_shapes):
            if i not in skip:
                f[f"layer_{i}"] = np.full((n,) + tuple(shape), fill, dtype=np.float32)
        if units:
            f.attrs["units"] = units
    return path


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_showers(tmp_path / "nothing.h5")


def test_empty_and_foreign_files(tmp_path):
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "text.h5").write_text("layer_0,layer_1\n1,2\n")
    with pytest.raises(DataFileError, match="is empty"):
        read_showers(tmp_path / "empty.h5")
    with pytest.raises(DataFileError, match="neither an HDF5 nor a ROOT file"):
        read_showers(tmp_path / "text.h5")


@pytest.mark.parametrize("suffix", [".h5", ".root"])
def test_truncated_files(axion1_files, tmp_path, suffix):
    data = axion1_files[suffix].read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataFileError, match="truncated or corrupted"):
        read_showers(cut)


def test_missing_layer(tmp_path):
    with pytest.raises(DataFileError, match="no dataset 'layer_2'"):
        read_showers(_write_h5(tmp_path / "f.h5", skip=(2,)))


def test_missing_root_branch(tmp_path):
    with uproot.recreate(tmp_path / "f.root") as f:
        f.mktree("showers", {"layer_0": np.dtype((np.float32, (4, 16)))})
        f["showers"].extend({"layer_0": np.zeros((3, 4, 16), np.float32)})
    with pytest.raises(DataFileError, match="no tree with branches layer_0 ... layer_3; looked at TTree 'showers'"):
        read_showers(tmp_path / "f.root")


def test_jagged_root_layers_of_unequal_length(tmp_path):
    import awkward as ak

    layers = {f"layer_{i}": ak.Array([np.zeros(n * m), np.zeros(n * m)])
              for i, (n, m) in enumerate(ATLAS_ECAL.layer_shapes)}
    layers["layer_1"] = ak.Array([np.zeros(512), np.zeros(300)])
    with uproot.recreate(tmp_path / "f.root") as f:
        f.mktree("showers", {k: v.type for k, v in layers.items()})
        f["showers"].extend(layers)
    with pytest.raises(DataFileError, match="per-event lengths"):
        read_showers(tmp_path / "f.root")


def test_flat_root_vectors_of_the_right_length_are_accepted(tmp_path):
    import awkward as ak

    layers = {f"layer_{i}": ak.Array([np.ones(n * m, np.float32)] * 3)
              for i, (n, m) in enumerate(ATLAS_ECAL.layer_shapes)}
    with uproot.recreate(tmp_path / "f.root") as f:
        f.mktree("showers", {k: v.type for k, v in layers.items()})
        f["showers"].extend(layers)
    sample = read_showers(tmp_path / "f.root")
    assert sample.layers[1].shape == (3, 4, 128)


def test_wrong_shape(tmp_path):
    shapes = list(ATLAS_ECAL.layer_shapes)
    shapes[1] = (4, 64)
    with pytest.raises(DataFileError, match=r"layer_1 .* cells \(4, 64\) per event, expected \(4, 128\)"):
        read_showers(_write_h5(tmp_path / "f.h5", shapes=shapes))


def test_nan_and_negative_energies(tmp_path):
    with pytest.raises(DataFileError, match="NaN or infinite"):
        read_showers(_write_h5(tmp_path / "nan.h5", fill=np.nan))
    negative = _write_h5(tmp_path / "neg.h5", fill=-5.0)
    assert read_showers(negative).layers[2].min() == -5.0  # noise-subtracted cells are kept by default
    assert read_showers(negative, negative_cells="clip").layers[2].min() == 0.0
    with pytest.raises(DataFileError, match="negative cell energies .* refused as asked"):
        read_showers(negative, negative_cells="refuse")
    with pytest.raises(ParameterError, match="negative_cells must be one of keep, clip, refuse"):
        read_showers(negative, negative_cells="drop")


def test_empty_dataset(tmp_path):
    with pytest.raises(EmptyDatasetError, match="holds no events"):
        read_showers(_write_h5(tmp_path / "f.h5", n=0))


def test_units(tmp_path):
    assert read_showers(_write_h5(tmp_path / "gev.h5", units="GeV", fill=2.0)).layers[0].max() == pytest.approx(2000.0)
    with pytest.raises(DataFileError, match="unknown units 'ADC'"):
        read_showers(_write_h5(tmp_path / "adc.h5", units="ADC"))


@pytest.mark.parametrize("args,message", [
    (["inspect", "/no/such/file.h5"], "no such file"),
    (["simulate", "atlas-ecal", "--particle", "axion2", "--mass", "0.2", "--events", "5", "--out", "x.h5"],
     "mass above"),
    (["simulate", "atlas-ecal", "--particle", "gamma", "--events", "0", "--out", "x.h5"], "positive integer"),
    (["simulate", "atlas-ecal", "--particle", "gamma", "--events", "5", "--out", "x.csv"], "cannot tell the format"),
])
def test_cli_errors_are_one_sentence(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "analysis_lib", *args], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_showers_read_in_chunks_equal_the_whole_file_and_float64_cells_are_kept_exactly(tmp_path):
    import h5py

    from analysis_lib.io import iterate_showers

    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "published.h5", "w") as f:  # the published dataset's float64 layout
        for i, shape in enumerate(((4, 16), (4, 128), (16, 16), (16, 8))):
            f[f"layer_{i}"] = rng.exponential(30.0, (25, *shape))
        f["energy"] = rng.uniform(40, 250, (25, 1))
    whole = read_showers(tmp_path / "published.h5")
    with h5py.File(tmp_path / "published.h5") as f:
        assert np.array_equal(whole.layers[1], f["layer_1"][:].astype(np.float32))
    chunks = list(iterate_showers(tmp_path / "published.h5", step_events=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    for i in range(4):
        assert np.array_equal(np.concatenate([c.layers[i] for c in chunks]), whole.layers[i])
    assert np.array_equal(np.concatenate([c.truth["energy"] for c in chunks]), whole.truth["energy"])
    assert [len(c) for c in iterate_showers(tmp_path / "published.h5", step_events=10, start=5, stop=22)] == [10, 7]


def test_the_same_weights_give_the_same_model_file_bytes(tmp_path):
    """Keras stores object ids and the save time in a .keras file; the library's file does
    not, so retraining to identical weights does not make every later stage rerun."""
    import keras

    from analysis_lib.io import load_model, save_model
    from analysis_lib.studies.shashlik import cluster_regressor
    from analysis_lib.training import set_seed

    paths = []
    for name in ("a", "b"):
        keras.backend.clear_session()  # layer names restart, as in a fresh kernel
        set_seed(3)
        paths.append(save_model(cluster_regressor(25, 3), tmp_path / f"{name}.keras"))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    x = np.linspace(0, 1, 50, dtype=np.float32).reshape(2, 25)
    assert np.array_equal(load_model(paths[0]).predict(x, verbose=0), load_model(paths[1]).predict(x, verbose=0))


def test_a_missing_file_of_the_books_data_says_which_command_makes_it():
    import shlex

    from analysis_lib.io import PROJECT_DATA_DIR, load_model

    python = shlex.quote(sys.executable)  # by its full path: the command works from any folder
    with pytest.raises(DataFileError, match=re.escape(f"make it with: {python} -m analysis_lib run --profile book "
                                                      f"--only detector/simulate") + "$"):
        read_showers(PROJECT_DATA_DIR / "book" / "atlas_ecal" / "no_such_particle_40-250GeV.h5")
    # just the stage that writes the file, a matrix stage's variant included
    with pytest.raises(DataFileError, match=r"run --profile smoke --only photon_jets/cnn/axion2$"):
        load_model(PROJECT_DATA_DIR / "smoke" / "photon_jets" / "axion2" / "cnn" / "model.keras")
    with pytest.raises(DataFileError, match=r"run --profile smoke --only photon_id/explore$"):
        read_showers(PROJECT_DATA_DIR / "smoke" / "photon_id" / "no_such_process_photon.h5")
    with pytest.raises(DataFileError, match=r"^no such file: [^;]*$"):
        read_showers("/nowhere/gamma.h5")


def test_a_library_error_shows_in_a_notebook_as_one_sentence(tmp_path):
    """IPython renders the library's errors by their sentence alone, not a traceback
    through the library's frames."""
    import nbformat
    from nbclient import NotebookClient

    from analysis_lib.io import PROJECT_DATA_DIR

    missing = PROJECT_DATA_DIR / "book" / "atlas_ecal" / "no_such_particle_40-250GeV.h5"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"from analysis_lib.io import read_showers\nread_showers({str(missing)!r})")])
    NotebookClient(notebook, kernel_name="python3", allow_errors=True, timeout=120).execute(cwd=str(tmp_path))
    error = notebook.cells[0].outputs[0]
    assert error.output_type == "error" and error.ename == "DataFileError"
    assert len(error.traceback) == 1, error.traceback
    assert error.traceback[0].startswith("DataFileError: no such file:")
    assert "--only detector/simulate" in error.traceback[0]


def test_arrays_written_chunk_by_chunk_read_back_whole_or_by_name(tmp_path):
    from analysis_lib.io import load_arrays, save_array_chunks

    rng = np.random.default_rng(3)
    chunks = [{"image": rng.random((n, 4, 5)).astype(np.float32), "label": np.full(n, i)} for i, n in enumerate((3, 5,
                                                                                                                 1))]
    save_array_chunks(tmp_path / "a.h5", iter(chunks), attrs={"size": 4})
    back = load_arrays(tmp_path / "a.h5")
    assert np.array_equal(back["image"], np.concatenate([c["image"] for c in chunks]))
    assert back["label"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2] and back["attrs"]["size"] == 4
    assert set(load_arrays(tmp_path / "a.h5", names=("label",))) == {"label", "attrs"}


def test_a_plain_kernel_shows_no_tensorflow_start_up_lines(tmp_path):
    """What JupyterLab shows: a kernel started without the pipeline's settings imports a
    network, and no stderr box appears."""
    import nbformat
    from nbclient import NotebookClient

    import os

    # as JupyterLab starts it: without the pipeline's log level, and with the kernel's
    # stderr forwarded (ipykernel does not forward it when it sees it runs under pytest)
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTEST_CURRENT_TEST")}
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from analysis_lib.models import *\nimport keras\nkeras.ops.convert_to_tensor([1.0]) + 1"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(3)  # the kernel forwards its stderr from a thread")])
    NotebookClient(notebook, kernel_name="python3", timeout=300).execute(cwd=str(tmp_path), env=environment)
    streams = [o.text for cell in notebook.cells for o in cell.outputs if o.output_type == "stream"]
    assert not streams, streams


@pytest.mark.parametrize("suffix", [".h5", ".root"])
def test_a_file_cut_in_half_is_refused_even_when_only_its_first_events_are_read(tmp_path, suffix):
    """Its first events are intact, so reading them alone would run a study on a damaged
    file without a word: every reader checks the file is whole, as inspect does."""
    from analysis_lib.io import iterate_showers

    whole = simulate_to_files(ATLAS_ECAL, "gamma", 400, [tmp_path / f"whole{suffix}"], progress=False)[0]
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert len(read_showers(whole, 0, 5)) == 5
    with pytest.raises(DataFileError, match="cut.* is truncated or corrupted"):
        read_showers(cut, 0, 5)
    with pytest.raises(DataFileError, match="is truncated or corrupted"):
        next(iterate_showers(cut, step_events=5))


def test_a_hits_file_cut_in_half_is_refused_before_its_first_events_are_read(tmp_path):
    from analysis_lib.detectors import LDMX_ECAL
    from analysis_lib.io import find_hits, iterate_hits

    whole = simulate_to_files(LDMX_ECAL, "background", 300, [tmp_path / "whole.root"], progress=False)[0]
    cut = tmp_path / "cut.root"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    next(iterate_hits(whole, step_size=5))
    with pytest.raises(DataFileError, match="cut.root is truncated or corrupted"):
        find_hits(cut)
