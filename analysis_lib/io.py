"""Reading and writing calorimeter shower files: HDF5 and ROOT, one reader for both.

File layout (the published photon-jet dataset's, so its real files load too):

* HDF5: datasets ``layer_0`` ... ``layer_3``, shape (events, phi bins, eta bins),
  cell energies in MeV; optional truth datasets (``energy_gev``, ``photon_*``);
  file attributes (``particle``, ``units``, ``seed``, ...).
* ROOT: a TTree ``showers`` with the same names as branches (fixed-size arrays,
  or flat per-event vectors of phi x eta cells), attributes as a JSON string
  ``attrs``.

Writers work chunk by chunk (bounded memory), show a progress bar, and are
atomic: output goes to a hidden temporary file renamed into place at the end,
so an interrupted run never leaves a half-written file under the final name.
"""

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataFileError, EmptyDatasetError, ParameterError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ROOT_MAGIC = b"root"
TREE_NAME = "showers"
UNIT_TO_MEV = {"MeV": 1.0, "GeV": 1000.0, "keV": 1e-3}


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success.

    A process killed outright (SIGKILL, power cut) cannot clean up: its partial file
    is removed by the next writer of the same path once its process is gone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process
        return True
    return True


def remove_stale_partials(path):
    """Delete the partial files of ``path`` left by writers that no longer run; returns them."""
    path = Path(path)
    removed = []
    for partial in path.parent.glob(f".{path.stem}.partial-*{path.suffix}"):
        pid = partial.name[len(f".{path.stem}.partial-"):len(partial.name) - len(path.suffix)]
        if pid.isdigit() and not _alive(int(pid)):
            if partial.is_dir():
                import shutil

                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
            removed.append(partial)
    return removed


def file_format(path):
    """'hdf5' or 'root' from the file's first bytes (extensions can lie)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"no such file: {path}")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head:
        raise DataFileError(f"{path} is empty (0 bytes)")
    if head == HDF5_MAGIC:
        return "hdf5"
    if head[:4] == ROOT_MAGIC:
        return "root"
    raise DataFileError(f"{path} is neither an HDF5 nor a ROOT file")


def format_from_suffix(path):
    suffix = Path(path).suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return "hdf5"
    if suffix == ".root":
        return "root"
    raise DataFileError(f"cannot tell the format of {path}: use a .h5, .hdf5 or .root name")


# -- writing ----------------------------------------------------------------
class _Hdf5Writer:
    def __init__(self, path, n_events, attrs):
        import h5py

        self.file = h5py.File(path, "w")
        self.file.attrs.update({k: (json.dumps(v) if isinstance(v, (list, tuple, dict)) else v)
                                for k, v in attrs.items()})
        self.n_events, self.cursor = n_events, 0

    def write(self, chunk):
        n = len(next(iter(chunk.values())))
        for key, values in chunk.items():
            if key not in self.file:
                self.file.create_dataset(key, shape=(self.n_events,) + values.shape[1:], dtype=values.dtype,
                                         chunks=(min(self.n_events, 256),) + values.shape[1:],
                                         compression="gzip", compression_opts=1, shuffle=True)
            self.file[key][self.cursor:self.cursor + n] = values
        self.cursor += n

    def close(self):
        self.file.close()


class _RootWriter:
    def __init__(self, path, n_events, attrs):
        import uproot

        self.file = uproot.recreate(path)
        self.file["attrs"] = json.dumps(attrs)
        self.tree = None

    def write(self, chunk):
        if self.tree is None:  # mktree: a plain assignment would write an RNTuple
            types = {k: np.dtype((v.dtype, v.shape[1:])) if v.ndim > 1 else v.dtype for k, v in chunk.items()}
            self.tree = self.file.mktree(TREE_NAME, types)
        self.tree.extend(chunk)

    def close(self):
        self.file.close()


def write_showers(chunks, paths, n_events, attrs, progress=True):
    """Write an iterable of chunks (dicts of equal-length arrays) to each of ``paths``.

    The format follows each path's suffix; all files get the same events.
    """
    from tqdm import tqdm

    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    kinds = [format_from_suffix(p) for p in paths]
    attrs = dict(attrs, units="MeV", n_events=int(n_events))
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_output(p)) for p in paths]
        writers = [(_Hdf5Writer if kind == "hdf5" else _RootWriter)(tmp, n_events, attrs)
                   for kind, tmp in zip(kinds, tmps)]
        bar = stack.enter_context(tqdm(total=n_events, unit="event", disable=not progress,
                                       desc=", ".join(p.name for p in paths), mininterval=2))
        written = 0
        try:
            for chunk in chunks:
                for writer in writers:
                    writer.write(chunk)
                n = len(next(iter(chunk.values())))
                written += n
                bar.update(n)
        finally:
            for writer in writers:
                writer.close()
        if written != n_events:
            raise DataFileError(f"expected {n_events} events but the source gave {written}")
    return paths


# -- reading ----------------------------------------------------------------
@dataclass
class ShowerSample:
    """Events of one shower file: layer images in MeV, optional truth, attributes."""

    layers: list
    truth: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    path: Path | None = None

    def __len__(self):
        return len(self.layers[0])

    def layer_energy_gev(self):
        """(events, layers) energy per layer, GeV."""
        return np.stack([layer.sum(axis=(1, 2), dtype=np.float64) for layer in self.layers], axis=1) / 1000.0

    def total_energy_gev(self):
        return self.layer_energy_gev().sum(axis=1)


def read_showers(path, start=0, stop=None, detector=None):
    """Read and validate a shower file (HDF5 or ROOT) of ``detector``'s geometry.

    Checks: the file exists and is HDF5 or ROOT, is not truncated, has every
    ``layer_i`` with the detector's cell grid, known units, finite and
    non-negative energies, and at least one event. Any failure raises
    DataFileError (EmptyDatasetError for no events) with one sentence.
    """
    from .detectors import ATLAS_ECAL

    detector = detector or ATLAS_ECAL
    path = Path(path)
    kind = file_format(path)
    try:
        reader = _read_hdf5 if kind == "hdf5" else _read_root
        layers, truth, attrs = reader(path, len(detector.layers), start, stop)
    except (DataFileError, EmptyDatasetError):
        raise
    except Exception as error:  # h5py/uproot raise many types for damaged files
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise DataFileError(f"{path} is truncated or corrupted and cannot be read ({reason})") from None
    return _validated(path, layers, truth, attrs, detector)


def _read_hdf5(path, n_layers, start, stop):
    import h5py

    with h5py.File(path, "r") as f:
        missing = [f"layer_{i}" for i in range(n_layers) if f"layer_{i}" not in f]
        if missing:
            raise DataFileError(f"{path} has no dataset {missing[0]!r}; shower files need layer_0 ... layer_{n_layers - 1}")
        layers = [np.asarray(f[f"layer_{i}"][start:stop]) for i in range(n_layers)]
        truth = {k: np.asarray(f[k][start:stop]) for k in f if not k.startswith("layer_") and
                 isinstance(f[k], h5py.Dataset) and f[k].ndim >= 1}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return layers, truth, attrs


def _read_root(path, n_layers, start, stop):
    import uproot

    with uproot.open(path) as f:
        trees = [k.split(";")[0] for k, c in f.classnames().items() if c in ("TTree", "ROOT::RNTuple")]
        if not trees:
            raise DataFileError(f"{path} holds no TTree")
        name = TREE_NAME if TREE_NAME in trees else trees[0]
        tree = f[name]
        missing = [f"layer_{i}" for i in range(n_layers) if f"layer_{i}" not in tree]
        if missing:
            raise DataFileError(f"tree {name!r} in {path} has no branch {missing[0]!r}; shower files need layer_0 ... layer_{n_layers - 1}")
        arrays = tree.arrays(library="np", entry_start=start, entry_stop=stop)
        attrs = json.loads(str(f["attrs"])) if "attrs" in f else {}
    layers = [_regular(arrays.pop(f"layer_{i}"), f"layer_{i}", path) for i in range(n_layers)]
    truth = {k: v for k, v in arrays.items() if v.dtype != object}  # jagged truth is not needed here
    return layers, truth, attrs


def _regular(values, name, path):
    """Turn an object array of per-event vectors into a 2-D array, or refuse."""
    if values.dtype != object:
        return values
    lengths = {len(v) for v in values}
    if len(lengths) > 1:
        raise DataFileError(f"branch {name!r} in {path} has per-event lengths {sorted(lengths)[:4]}, expected one fixed length")
    return np.stack(values) if len(values) else np.zeros((0, 0))


def _validated(path, layers, truth, attrs, detector):
    n = len(layers[0])
    if n == 0:
        raise EmptyDatasetError(f"{path} holds no events")
    unit = attrs.get("units", "MeV")
    if unit not in UNIT_TO_MEV:
        raise DataFileError(f"{path} gives cell energies in unknown units {unit!r}; expected one of {', '.join(UNIT_TO_MEV)}")
    checked = []
    for i, (layer, expected) in enumerate(zip(layers, detector.layer_shapes)):
        name = f"layer_{i}"
        if len(layer) != n:
            raise DataFileError(f"{name} in {path} has {len(layer)} events but layer_0 has {n}")
        if layer.ndim == 2 and layer.shape[1] == expected[0] * expected[1]:
            layer = layer.reshape((n,) + expected)  # flat per-event vectors from ROOT
        if layer.shape[1:] != expected:
            raise DataFileError(f"{name} in {path} has cells {layer.shape[1:]} per event, expected {expected} (phi x eta)")
        if not np.issubdtype(layer.dtype, np.number):
            raise DataFileError(f"{name} in {path} holds {layer.dtype} values, not numbers")
        layer = layer.astype(np.float32) * np.float32(UNIT_TO_MEV[unit])
        bad = ~np.isfinite(layer)
        if bad.any():
            raise DataFileError(f"{name} in {path} has {int(bad.sum())} NaN or infinite cell energies "
                                f"(first in event {int(np.argwhere(bad)[0][0])})")
        if layer.min() < 0:
            raise DataFileError(f"{name} in {path} has negative cell energies (lowest {layer.min():.3g} MeV in "
                                f"event {int(np.argmin(layer.reshape(n, -1).min(1)))}); cell energies must be >= 0")
        checked.append(layer)
    truth = {k: v for k, v in truth.items() if len(v) == n}
    return ShowerSample(checked, truth, dict(attrs, units="MeV"), path)


# -- model outputs ----------------------------------------------------------------
def save_arrays(path, attrs=None, **arrays):
    """Write named arrays (and string/number attributes) to an HDF5 file, atomically."""
    import h5py

    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for name, values in arrays.items():
                f.create_dataset(name, data=np.asarray(values))
            f.attrs.update(attrs or {})
    return Path(path)


def load_arrays(path, required=()):
    """Read every dataset of an HDF5 file written by ``save_arrays`` into a dict."""
    import h5py

    path = Path(path)
    if file_format(path) != "hdf5":
        raise DataFileError(f"{path} is not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            arrays = {k: np.asarray(f[k]) for k in f}
            arrays["attrs"] = dict(f.attrs)
    except OSError as error:
        raise DataFileError(f"{path} is truncated or corrupted and cannot be read ({str(error)[:120]})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise DataFileError(f"{path} has no dataset {missing[0]!r}")
    return arrays


def save_residuals(path, residuals, study, **per_photon):
    """Residuals {method: {"x", "y", "e"}} of a regression study, with arrays per photon
    (energy, separation, ...), to HDF5: datasets "<method>: <x|y|e>"."""
    arrays = {f"{method}: {key}": values for method, res in residuals.items() for key, values in res.items()}
    return save_arrays(path, attrs={"study": study, "methods": list(residuals)}, **arrays, **per_photon)


def load_residuals(path):
    """Inverse of ``save_residuals``: (residuals by method, the other arrays, the study's name)."""
    arrays = load_arrays(path)
    attrs = arrays.pop("attrs")
    methods = [str(m) for m in attrs.get("methods", [])]
    missing = [f"{m}: {k}" for m in methods for k in "xye" if f"{m}: {k}" not in arrays]
    if not methods or missing:
        raise DataFileError(f"{path} holds no residuals of a regression study" + (f" (missing {missing[0]})" if missing else ""))
    residuals = {m: {k: arrays.pop(f"{m}: {k}") for k in "xye"} for m in methods}
    return residuals, arrays, str(attrs.get("study", ""))


# -- hits: jagged (x, y, z, E) per event in a ROOT tree ------------------------------
HITS_TREE = "ecalHits"
HIT_BRANCHES = ("x", "y", "z", "E")


def write_hits(chunks, path, n_events, attrs=None, progress=True):
    """Write chunks of hit events (``eventNumber``, per-event arrays ``x, y, z`` in mm and
    ``E`` in MeV, plus flat per-event truth arrays) to a ROOT file with a TTree
    ``ecalHits`` of jagged branches, as the LDMX files are; atomically."""
    import awkward as ak
    import uproot
    from tqdm import tqdm

    path = Path(path)
    if format_from_suffix(path) != "root":
        raise DataFileError(f"hits are written to ROOT files: {path} should end in .root")
    with atomic_output(path) as tmp:
        with uproot.recreate(tmp) as file, tqdm(total=n_events, unit="event", disable=not progress, desc=path.name,
                                                mininterval=2) as bar:
            file["attrs"] = json.dumps(dict(attrs or {}, units="mm, MeV", n_events=int(n_events)))
            tree = None
            for chunk in chunks:
                counts = np.array([len(e) for e in chunk["E"]])
                data = {key: ak.unflatten(np.concatenate(chunk[key]).astype(np.float32), counts) for key in HIT_BRANCHES}
                data.update({k: np.asarray(v) for k, v in chunk.items() if k not in HIT_BRANCHES})
                if tree is None:  # mktree: a plain assignment would write an RNTuple
                    tree = file.mktree(HITS_TREE, {k: (v.type if isinstance(v, ak.Array) else v.dtype)
                                                   for k, v in data.items()})
                tree.extend(data)
                bar.update(len(counts))
    return path


def _hits_tree(path, wanted):
    import uproot

    path = Path(path)
    if file_format(path) != "root":
        raise DataFileError(f"{path} is not a ROOT file; hits are read from ROOT trees")
    try:
        file = uproot.open(path)
        keys = {k.split(";")[0] for k in file.keys()}
    except Exception as error:  # uproot raises many types for a damaged file
        raise DataFileError(f"{path} is truncated or corrupted and cannot be opened ({type(error).__name__})") from None
    if HITS_TREE not in keys:
        raise DataFileError(f"{path} has no '{HITS_TREE}' tree (it holds: {', '.join(sorted(keys)) or 'nothing'})")
    tree = file[HITS_TREE]
    missing = [b for b in wanted if b not in tree.keys()]
    if missing:
        raise DataFileError(f"the '{HITS_TREE}' tree of {path} lacks the branch(es) {', '.join(missing)}")
    return tree


def count_hit_events(path):
    """Number of events in the ``ecalHits`` tree of ``path`` (checked as ``iterate_hits`` does)."""
    return int(_hits_tree(path, HIT_BRANCHES).num_entries)


def iterate_hits(path, step_size=10000, truth=(), entry_start=None, entry_stop=None):
    """Read an ``ecalHits`` tree in chunks of ``step_size`` events (of the entries
    ``entry_start`` to ``entry_stop``, all by default): yields dicts of awkward arrays
    ``x, y, z, E`` (and the flat ``truth`` branches asked for).

    Refuses, with one sentence, a file that is not ROOT, is truncated, has no such
    tree, lacks a branch, or whose jagged branches differ in length in some event.
    """
    import awkward as ak

    path = Path(path)
    wanted = list(HIT_BRANCHES) + list(truth)
    tree = _hits_tree(path, wanted)
    start = entry_start or 0
    try:
        for chunk in tree.iterate(wanted, step_size=step_size, library="ak", entry_start=entry_start,
                                  entry_stop=entry_stop):
            counts = {b: ak.num(chunk[b]) for b in HIT_BRANCHES}
            for b in HIT_BRANCHES[1:]:
                bad = np.flatnonzero(np.asarray(counts[b]) != np.asarray(counts["x"]))
                if bad.size:
                    raise DataFileError(f"in {path}, event {start + bad[0]} has {counts['x'][bad[0]]} x values but "
                                        f"{counts[b][bad[0]]} {b} values: the hit branches must have equal lengths")
            start += len(chunk)
            yield {b: chunk[b] for b in wanted}
    except DataFileError:
        raise
    except Exception as error:
        raise DataFileError(f"{path} is truncated or corrupted: reading stopped after {start} events "
                            f"({type(error).__name__})") from None


def save_model(model, path):
    """Save a Keras model in the native ``.keras`` format (no pickle), atomically."""
    path = Path(path)
    if path.suffix != ".keras":
        raise DataFileError(f"Keras models are saved as .keras files, not {path.name}")
    with atomic_output(path) as tmp:
        model.save(tmp)
    return path


def load_model(path, n_inputs=None):
    """Load a ``.keras`` model (the library's custom layers and losses included), or refuse
    with one sentence: a missing file, another format, a file Keras cannot read, or a
    model with another number of inputs than ``n_inputs``."""
    import keras

    from . import models  # noqa: F401 - registers the custom layers and losses

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"no such file: {path}")
    if path.suffix != ".keras":
        raise DataFileError(f"{path} is not a .keras model file (this library saves no pickle, HDF5 or SavedModel)")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise DataFileError(f"{path} is not a Keras model this version can load (a .keras file is a zip archive)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for foreign files
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise DataFileError(f"{path} is not a Keras model this version can load ({reason})") from None
    if n_inputs is not None and len(model.inputs) != n_inputs:
        raise DataFileError(f"{path} is a model with {len(model.inputs)} input(s), this notebook needs {n_inputs}")
    return model


def save_table(table, path):
    """Write a pandas table as CSV (readable anywhere, no pickle), atomically."""
    with atomic_output(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)


def load_table(path, required=()):
    """Read a CSV table written by ``save_table``; refuse one without the ``required`` columns."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"no such file: {path}")
    try:
        table = pd.read_csv(path)
    except Exception as error:
        raise DataFileError(f"{path} is not a readable CSV table ({type(error).__name__})") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataFileError(f"{path} has no column {missing[0]!r}")
    return table


def export_onnx(model, path):
    """Export a Keras model to ONNX (Keras' own exporter, tf2onnx underneath), atomically."""
    path = Path(path)
    if path.suffix != ".onnx":
        raise DataFileError(f"ONNX models are saved as .onnx files, not {path.name}")
    # the exporter refuses a model that has never been called (a freshly loaded one)
    model([np.zeros((1,) + tuple(i.shape[1:]), np.float32) for i in model.inputs])
    with atomic_output(path) as tmp:
        model.export(str(tmp), format="onnx", verbose=False)
    return path


class OnnxModel:
    """An ONNX model run by onnxruntime on the CPU, called like ``keras.Model.predict``
    with a list of inputs in the order of the model's inputs."""

    def __init__(self, path):
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise DataFileError(f"no such file: {path}")
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:
            raise DataFileError(f"{path} is not an ONNX model onnxruntime can load ({type(error).__name__})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]

    def predict(self, inputs):
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if len(inputs) != len(self.input_names):
            raise ParameterError(f"the ONNX model takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), "
                                 f"got {len(inputs)}")
        feed = {name: np.asarray(x, np.float32) for name, x in zip(self.input_names, inputs)}
        return self.session.run(None, feed)[0]
