"""Reading and writing calorimeter files: shower images (HDF5 and ROOT, one reader for
both), hits (ROOT trees), result arrays, tables and models; atomic writes that never
replace a file this library did not write.

Shower files (the published photon-jet dataset's layout, so its real files load too):

* HDF5: datasets ``layer_0`` ... ``layer_<n>``, shape (events, phi bins, eta bins),
  cell energies in MeV (any float type); optional truth datasets;
  file attributes (``particle``, ``units``, ``seed``, ...), ``units`` MeV if absent.
* ROOT: a TTree (or TNtuple) with the same names as branches (fixed-size arrays, or
  flat per-event vectors of phi x eta cells), found by its branches anywhere in the
  file, directories included; attributes as a JSON string ``attrs``.

Cells may be negative (noise-subtracted read-outs): ``negative_cells`` says whether to
keep them (default), clip them to zero, or refuse the file.

Hits: jagged (x, y, z, E) per event, in the tree a ``HitLayout`` names (``find_hits``
recognises the LDMX study's ``ecalHits`` ntuples and ldmx-sw event files).

Writers work chunk by chunk (bounded memory), show a progress bar, and are atomic:
output goes to a hidden temporary file renamed into place at the end, so an interrupted
run never leaves a half-written file under the final name. A data file (HDF5, ROOT)
already at the target is replaced only if this library wrote it (``check_replaceable``).

Contents: ``atomic_output``, ``remove_stale_partials``, ``check_replaceable``,
``written_by_this_library``, ``missing_file``, ``file_format``; ``write_showers``, ``ShowerSample``,
``read_showers``, ``iterate_showers``; ``save_arrays``, ``load_arrays``, ``save_residuals``,
``load_residuals``; ``HitLayout``, ``find_hits``, ``write_hits``, ``count_hit_events``,
``iterate_hits``; ``save_model``, ``load_model``, ``save_table``, ``load_table``,
``export_onnx``, ``OnnxModel``.
"""

import contextlib
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataFileError, EmptyDatasetError, ParameterError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ROOT_MAGIC = b"root"
TREE_NAME = "showers"
UNIT_TO_MEV = {"MeV": 1.0, "GeV": 1000.0, "keV": 1e-3}


#: Mark of this library's data files: an HDF5 attribute, a key of a ROOT file's ``attrs``.
WRITTEN_BY = "analysis_lib"
#: The project's own data folder (``data/<profile>``): everything in it is the pipeline's.
PROJECT_DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DATA_SUFFIXES = (".h5", ".hdf5", ".root")
NEGATIVE_CELLS = ("keep", "clip", "refuse")


def written_by_this_library(path):
    """True for an HDF5 or ROOT file that carries this library's mark (or, for files of
    earlier versions, its ``library_version``); False for anything else, unreadable included."""
    path = Path(path)
    try:
        kind = file_format(path)
        if kind == "hdf5":
            import h5py

            with h5py.File(path, "r") as f:
                attrs = dict(f.attrs)
        else:
            import uproot

            with uproot.open(path) as f:
                attrs = json.loads(str(f["attrs"])) if "attrs" in f else {}
    except Exception:  # anything unreadable is not ours
        return False
    return isinstance(attrs, dict) and (attrs.get("written_by") == WRITTEN_BY or "library_version" in attrs)


def check_replaceable(path):
    """Refuse, with one sentence, to write a data file over one this library did not write.

    Free: a path with nothing there, anything inside the project's own data folder, and
    HDF5/ROOT files with this library's mark. Other outputs (CSV tables, models) go to the
    stages' own output folders and are not checked."""
    path = Path(path)
    if path.is_dir():
        raise DataFileError(f"{path} is a folder, not a file name: give the file to write")
    if not path.exists() or path.suffix.lower() not in DATA_SUFFIXES:
        return
    if path.resolve().is_relative_to(PROJECT_DATA_DIR) or written_by_this_library(path):
        return
    raise DataFileError(f"{path} exists and was not written by this library: refusing to replace it "
                        f"(write into another folder, or move the file away first)")


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success.

    A data file already at ``path`` that this library did not write is never replaced
    (``check_replaceable``). A process killed outright (SIGKILL, power cut) cannot clean
    up: its partial file is removed by the next writer of the same path once its process
    is gone."""
    path = Path(path)
    check_replaceable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataFileError(f"cannot write into {path.parent}: {error.strerror or error}") from None
    remove_stale_partials(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:  # disk full, quota, no permission: one sentence, nothing left behind
        raise DataFileError(f"could not write {path}: {error.strerror or error}; nothing was written") from None
    finally:
        if tmp.exists():
            tmp.unlink()


class _GuardedFile:
    """A file for h5py's ``fileobj`` driver that keeps the first failed write (a full
    disk, a quota) and discards what follows, so that HDF5 can still close the file:
    through its own driver it crashes the interpreter at exit instead (rc 139)."""

    def __init__(self, path):
        self.raw, self.error = open(path, "w+b"), None

    def write(self, data):
        if self.error is None:
            try:
                return self.raw.write(data)
            except OSError as error:
                self.error = error
        return memoryview(data).nbytes

    def __getattr__(self, name):  # read, seek, tell, truncate, flush
        return getattr(self.raw, name)

    def close(self):
        with contextlib.suppress(OSError):
            self.raw.close()
        if self.error is not None:
            raise self.error


@contextlib.contextmanager
def _hdf5_for_writing(path):
    """``h5py.File(path, "w")`` whose write errors come out as one OSError."""
    import h5py

    guard = _GuardedFile(path)
    try:
        with h5py.File(guard, "w") as f:
            yield f, guard
            if guard.error is not None:
                raise guard.error
    finally:
        guard.close()


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


#: The study of each folder of the project's data folder, for "run this to make it".
DATA_FOLDER_STUDY = {"atlas_ecal": "detector"}


def missing_file(path):
    """The error for a file that is not there: for a file of the project's own data
    folder, with the command that makes it (a notebook opened before ``make book``)."""
    path = Path(path)
    hint = ""
    try:
        profile, folder = path.resolve().relative_to(PROJECT_DATA_DIR).parts[:2]
        study = DATA_FOLDER_STUDY.get(folder, folder)
        if profile in ("smoke", "book", "full"):  # the pipeline's profiles
            hint = (f"; the pipeline makes it: python -m analysis_lib run --profile {profile} --only {study}"
                    f"{' (or make book)' if profile == 'book' else ''}")
    except ValueError:  # not in the project's data folder, or not deep enough to tell
        pass
    return DataFileError(f"no such file: {path}{hint}")


def file_format(path):
    """'hdf5' or 'root' from the file's first bytes (extensions can lie)."""
    path = Path(path)
    if not path.is_file():
        raise missing_file(path)
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
        self.opened = _hdf5_for_writing(path)
        self.file, self.guard = self.opened.__enter__()
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
        if self.guard.error is not None:
            raise self.guard.error

    def close(self):
        self.opened.__exit__(None, None, None)


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


def _bars_off(progress):
    """No progress bar when not asked for, or where TQDM_DISABLE is set (the pipeline
    sets it: in a book page a bar would print as a block of text)."""
    return not progress or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


def write_showers(chunks, paths, n_events, attrs, progress=True):
    """Write an iterable of chunks (dicts of equal-length arrays) to each of ``paths``.

    The format follows each path's suffix; all files get the same events.
    """
    from tqdm import tqdm

    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    kinds = [format_from_suffix(p) for p in paths]
    attrs = dict(attrs, units="MeV", n_events=int(n_events), written_by=WRITTEN_BY)
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_output(p)) for p in paths]
        writers = [(_Hdf5Writer if kind == "hdf5" else _RootWriter)(tmp, n_events, attrs)
                   for kind, tmp in zip(kinds, tmps)]
        bar = stack.enter_context(tqdm(total=n_events, unit="event", disable=_bars_off(progress),
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
            closing = []  # every writer is closed, even after one failed; the first error is the one told
            for writer in writers:
                try:
                    writer.close()
                except OSError as error:
                    closing.append(error)
            if closing and sys.exc_info()[0] is None:
                raise closing[0]
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


def read_showers(path, start=0, stop=None, detector=None, negative_cells="keep", tree=None):
    """Read and validate a shower file (HDF5 or ROOT) of ``detector``'s geometry.

    Checks: the file exists and is HDF5 or ROOT, is not truncated, has every
    ``layer_i`` with the detector's cell grid, known units, finite energies, and at
    least one event. ``negative_cells``: "keep" (noise-subtracted cells, the default),
    "clip" (set them to zero) or "refuse". ``tree``: the ROOT tree's path in the file,
    when several trees hold the layers. Any
    failure raises DataFileError (EmptyDatasetError for no events) with one sentence.
    """
    from .detectors import ATLAS_ECAL

    detector = detector or ATLAS_ECAL
    if negative_cells not in NEGATIVE_CELLS:
        raise ParameterError(f"negative_cells must be one of {', '.join(NEGATIVE_CELLS)}, not {negative_cells!r}")
    path = Path(path)
    kind = file_format(path)
    names = [f"layer_{i}" for i in range(len(detector.layer_shapes))]
    try:
        if kind == "hdf5":
            layers, truth, attrs = _read_hdf5(path, names, start, stop)
        else:
            layers, truth, attrs = _read_root(path, names, start, stop, tree)
    except (DataFileError, EmptyDatasetError):
        raise
    except Exception as error:  # h5py/uproot raise many types for damaged files
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise DataFileError(f"{path} is truncated or corrupted and cannot be read ({reason})") from None
    return _validated(path, layers, truth, attrs, detector, negative_cells)


def iterate_showers(path, step_events=10000, start=0, stop=None, **options):
    """``read_showers`` ``step_events`` events at a time: a study that needs only a
    summary of a large file holds one chunk in memory, not the file. ``options`` are
    ``read_showers``'s (detector, negative_cells, tree)."""
    if step_events < 1:
        raise ParameterError(f"step_events must be at least 1, not {step_events}")
    first = start
    while stop is None or first < stop:
        last = first + step_events if stop is None else min(first + step_events, stop)
        try:
            chunk = read_showers(path, first, last, **options)
        except EmptyDatasetError:
            if first == start:
                raise
            return
        yield chunk
        if len(chunk) < last - first:
            return
        first = last


def _read_hdf5(path, names, start, stop):
    import h5py

    with h5py.File(path, "r") as f:
        missing = [name for name in names if name not in f]
        if missing:
            raise DataFileError(f"{path} has no dataset {missing[0]!r}; shower files need {names[0]} ... {names[-1]}")
        for name in names:
            link = f.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise DataFileError(f"{name} in {path} is a link to {link.filename}, not data of its own; "
                                    f"copy the layers into one file")
            if not isinstance(f[name], h5py.Dataset):
                raise DataFileError(f"{name} in {path} is an HDF5 group, not a dataset of cell energies")
            if not (np.issubdtype(f[name].dtype, np.integer) or np.issubdtype(f[name].dtype, np.floating)):
                raise DataFileError(f"{name} in {path} holds {f[name].dtype} values, not real numbers")
        # converted to float32 while reading: the published float64 files never sit in memory twice
        layers = [f[name].astype(np.float32)[start:stop] for name in names]
        truth = {k: np.asarray(f[k][start:stop]) for k in f if not k.startswith("layer_") and
                 isinstance(f[k], h5py.Dataset) and f[k].ndim >= 1}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return layers, truth, attrs


#: ROOT classes read as trees, and the one that is not.
TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD")
RNTUPLE_CLASS = "ROOT::RNTuple"


def _trees(file):
    """{path in the file: class name} of every tree and RNTuple, directories included."""
    return {k.rsplit(";", 1)[0]: c for k, c in file.classnames().items() if c in TREE_CLASSES + (RNTUPLE_CLASS,)}


def _describe_objects(objects):
    return ", ".join(f"{'RNTuple' if c == RNTUPLE_CLASS else c} {k!r}" for k, c in objects.items()) or "no tree"


def _read_root(path, names, start, stop, tree_path=None):
    import uproot

    with uproot.open(path) as f:
        objects = _trees(f)
        trees = {k: f[k] for k, c in objects.items() if c in TREE_CLASSES}
        if tree_path is not None:
            if tree_path not in trees:
                raise DataFileError(f"{path} has no tree {tree_path!r} (it holds {_describe_objects(objects)})")
            trees = {tree_path: trees[tree_path]}
        holding = [k for k, t in trees.items() if all(n in t for n in names)]
        if not holding:
            unread = " (RNTuples are not read: write the layers as a TTree)" if RNTUPLE_CLASS in objects.values() else ""
            raise DataFileError(f"{path} has no tree with branches {names[0]} ... {names[-1]}; "
                                f"looked at {_describe_objects(objects)}{unread}")
        if len(holding) > 1 and TREE_NAME not in holding:
            raise DataFileError(f"{path} has the layers in several trees ({', '.join(holding)}): "
                                f"name one with the tree option")
        name = TREE_NAME if TREE_NAME in holding else holding[0]
        arrays = trees[name].arrays(library="np", entry_start=start, entry_stop=stop)
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        key = next((k for k in (folder + "attrs", "attrs") if k in f), None)
        attrs = json.loads(str(f[key])) if key else {}
    if not isinstance(attrs, dict):
        raise DataFileError(f"the 'attrs' of {path} is not a JSON object of attributes")
    layers = [_regular(arrays.pop(n), n, path) for n in names]
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


def _validated(path, layers, truth, attrs, detector, negative_cells="keep"):
    n = len(layers[0])
    if n == 0:
        raise EmptyDatasetError(f"{path} holds no events")
    unit = attrs.get("units", "MeV")
    if not isinstance(unit, str):
        raise DataFileError(f"{path} gives its units attribute as {type(unit).__name__} {np.asarray(unit).tolist()!r}, "
                            f"not one word; expected one of {', '.join(UNIT_TO_MEV)}")
    if unit not in UNIT_TO_MEV:
        raise DataFileError(f"{path} gives cell energies in unknown units {unit!r}; expected one of {', '.join(UNIT_TO_MEV)}")
    checked = []
    for i, (layer, expected) in enumerate(zip(layers, detector.layer_shapes)):
        name = f"layer_{i}"
        if len(layer) != n:
            raise DataFileError(f"{name} in {path} has {len(layer)} events but layer_0 has {n}")
        if layer.ndim == 2 and layer.shape[1] == expected[0] * expected[1]:
            layer = layer.reshape((n,) + tuple(expected))  # flat per-event vectors from ROOT
        if layer.shape[1:] != tuple(expected):
            raise DataFileError(f"{name} in {path} has cells {layer.shape[1:]} per event, expected {tuple(expected)} (phi x eta)")
        if not (np.issubdtype(layer.dtype, np.integer) or np.issubdtype(layer.dtype, np.floating)):
            raise DataFileError(f"{name} in {path} holds {layer.dtype} values, not real numbers")
        layer = layer.astype(np.float32, copy=False)
        if unit != "MeV":
            layer *= np.float32(UNIT_TO_MEV[unit])
        bad = ~np.isfinite(layer)
        if bad.any():
            raise DataFileError(f"{name} in {path} has {int(bad.sum())} NaN or infinite cell energies "
                                f"(first in event {int(np.argwhere(bad)[0][0])})")
        if layer.min() < 0:
            if negative_cells == "refuse":
                raise DataFileError(f"{name} in {path} has negative cell energies (lowest {layer.min():.3g} MeV in "
                                    f"event {int(np.argmin(layer.reshape(n, -1).min(1)))}), refused as asked")
            if negative_cells == "clip":
                layer = np.maximum(layer, np.float32(0.0))
        checked.append(layer)
    truth = {k: v for k, v in truth.items() if len(v) == n}
    return ShowerSample(checked, truth, dict(attrs, units="MeV"), path)


# -- model outputs ----------------------------------------------------------------
def save_arrays(path, attrs=None, **arrays):
    """Write named arrays (and string/number attributes) to an HDF5 file, atomically."""
    with atomic_output(path) as tmp:
        with _hdf5_for_writing(tmp) as (f, _):
            for name, values in arrays.items():
                f.create_dataset(name, data=np.asarray(values))
            f.attrs.update(dict(attrs or {}, written_by=WRITTEN_BY))
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


@dataclass(frozen=True)
class HitLayout:
    """Where a ROOT file keeps its calorimeter hits: the tree's path and the branches of
    x, y, z (mm) and energy (MeV). ``calibrated``: the energy is the sampling-corrected
    one (ldmx-sw's ``EcalRecHits``), not the energy deposited in the sensor.

    Written as text: ``"TREE:X,Y,Z,E"`` (the ``hits`` parameter, ``--hits``), with
    ``:calibrated`` appended for sampling-corrected energies."""

    tree: str = HITS_TREE
    x: str = "x"
    y: str = "y"
    z: str = "z"
    energy: str = "E"
    calibrated: bool = False

    @property
    def branches(self):
        return (self.x, self.y, self.z, self.energy)

    @classmethod
    def parse(cls, text):
        parts = str(text).split(":")
        branches = parts[1].split(",") if len(parts) > 1 else []
        if len(parts) not in (2, 3) or len(branches) != 4 or not all(branches) or not parts[0] or \
                (len(parts) == 3 and parts[2] != "calibrated"):
            raise ParameterError(f"hits must read 'TREE:X,Y,Z,E' (optionally ':calibrated'), not {text!r}")
        return cls(parts[0], *branches, calibrated=len(parts) == 3)

    def __str__(self):
        return f"{self.tree}:{','.join(self.branches)}" + (":calibrated" if self.calibrated else "")


def _open_root(path):
    import uproot

    path = Path(path)
    if file_format(path) != "root":
        raise DataFileError(f"{path} is not a ROOT file; hits are read from ROOT trees")
    try:
        return uproot.open(path)
    except Exception as error:  # uproot raises many types for a damaged file
        raise DataFileError(f"{path} is truncated or corrupted and cannot be opened ({type(error).__name__})") from None


def _ldmx_collection(tree):
    """The hit layout of an ldmx-sw event tree: its EcalRecHits collection (reconstructed,
    calibrated energies), else its EcalSimHits (energy deposited in the silicon)."""
    import re

    keys = tree.keys(recursive=True)
    for pattern, members, calibrated in ((r"(EcalRecHits_[^./]*)\.xpos_$", ("xpos_", "ypos_", "zpos_", "energy_"), True),
                                         (r"(EcalSimHits_[^./]*)\.x_$", ("x_", "y_", "z_", "edep_"), False)):
        found = [(k, m.group(1)) for k in keys if (m := re.search(pattern, k.rsplit("/", 1)[-1]))]
        if len(found) > 1:
            raise DataFileError(f"{tree.file.file_path} holds several hit collections ({', '.join(c for _, c in found)}): "
                                f"choose one with hits='{tree.object_path.strip('/').split(';')[0]}:X,Y,Z,E'")
        if found:
            key, collection = found[0]
            prefix = key[: len(key) - len(key.rsplit("/", 1)[-1])]
            return [f"{prefix}{collection}.{member}" for member in members], calibrated
    return None


def find_hits(path, hits=None):
    """The ``HitLayout`` of ``path``: ``hits`` as given (a HitLayout or its text), else
    found in the file: a tree ``ecalHits`` with x, y, z, E (the LDMX study's ntuples, also
    inside a directory), or an ldmx-sw ``LDMX_Events`` tree with an ``EcalRecHits_<pass>``
    or ``EcalSimHits_<pass>`` collection. Refuses, naming every tree it looked at."""
    path = Path(path)
    file = _open_root(path)
    objects = _trees(file)
    if hits:
        layout = hits if isinstance(hits, HitLayout) else HitLayout.parse(hits)
        if objects.get(layout.tree) not in TREE_CLASSES:
            raise DataFileError(f"{path} has no tree {layout.tree!r} (it holds {_describe_objects(objects)})")
        missing = [b for b in layout.branches if b not in file[layout.tree]]
        if missing:
            raise DataFileError(f"the {layout.tree!r} tree of {path} lacks the branch(es) {', '.join(missing)}")
        return layout
    for name, kind in objects.items():
        if kind not in TREE_CLASSES:
            continue
        tree = file[name]
        if name.rsplit("/", 1)[-1] == HITS_TREE:
            missing = [b for b in HIT_BRANCHES if b not in tree.keys()]
            if missing:
                raise DataFileError(f"the '{HITS_TREE}' tree of {path} lacks the branch(es) {', '.join(missing)}")
            return HitLayout(name)
        found = _ldmx_collection(tree)
        if found:
            return HitLayout(name, *found[0], calibrated=found[1])
    raise DataFileError(f"{path} holds no hits this library recognises (looked at {_describe_objects(objects)}): "
                        f"name the tree and branches with hits='TREE:X,Y,Z,E'")


def write_hits(chunks, path, n_events, attrs=None, progress=True):
    """Write chunks of hit events (``eventNumber``, per-event arrays ``x, y, z`` in mm and
    ``E`` in MeV, plus flat per-event truth arrays) to a ROOT file with a TTree
    ``ecalHits`` of jagged branches, as the LDMX study's ntuples are; atomically."""
    import awkward as ak
    import uproot
    from tqdm import tqdm

    path = Path(path)
    if format_from_suffix(path) != "root":
        raise DataFileError(f"hits are written to ROOT files: {path} should end in .root")
    with atomic_output(path) as tmp:
        with uproot.recreate(tmp) as file, tqdm(total=n_events, unit="event", disable=_bars_off(progress), desc=path.name,
                                                mininterval=2) as bar:
            file["attrs"] = json.dumps(dict(attrs or {}, units="mm, MeV", n_events=int(n_events),
                                            written_by=WRITTEN_BY))
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


def count_hit_events(path, hits=None):
    """Number of events in the hits tree of ``path`` (found as ``find_hits`` does)."""
    layout = find_hits(path, hits)
    return int(_open_root(path)[layout.tree].num_entries)


def iterate_hits(path, step_size=10000, truth=(), entry_start=None, entry_stop=None, hits=None,
                 sampling_fraction=None):
    """Read hits in chunks of ``step_size`` events (of the entries ``entry_start`` to
    ``entry_stop``, all by default): yields dicts of awkward arrays ``x, y, z`` (mm),
    ``E`` (MeV deposited) and the flat ``truth`` branches asked for. ``hits``: the
    layout (``find_hits`` finds it when not given). Calibrated energies are turned back
    into deposited ones with ``sampling_fraction(z_mm)``, which such files need.

    Refuses, with one sentence, a file that is not ROOT, is truncated, has no hits it
    recognises, lacks a branch, whose hit branches differ in length in some event, or
    with NaN or infinite hit values. Negative energies are kept (noise-subtracted
    read-outs); an event with no positive deposit makes no image.
    """
    import awkward as ak

    path = Path(path)
    layout = find_hits(path, hits)
    if layout.calibrated and sampling_fraction is None:
        raise ParameterError(f"the hits of {path} are calibrated energies: give the detector's sampling fraction")
    tree = _open_root(path)[layout.tree]
    missing = [b for b in truth if b not in tree]
    if missing:
        raise DataFileError(f"the {layout.tree!r} tree of {path} lacks the branch(es) {', '.join(missing)}")
    start = entry_start or 0
    try:
        for chunk in tree.iterate(list(layout.branches) + list(truth), step_size=step_size, library="ak",
                                  entry_start=entry_start, entry_stop=entry_stop):
            values = dict(zip(HIT_BRANCHES, (chunk[b] for b in layout.branches)))
            counts = {b: np.asarray(ak.num(v)) for b, v in values.items()}
            for b in HIT_BRANCHES[1:]:
                bad = np.flatnonzero(counts[b] != counts["x"])
                if bad.size:
                    raise DataFileError(f"in {path}, event {start + bad[0]} has {counts['x'][bad[0]]} x values but "
                                        f"{counts[b][bad[0]]} {b} values: the hit branches must have equal lengths")
            for b, v in values.items():
                bad = ~np.isfinite(np.asarray(ak.flatten(v), dtype=np.float64))
                if bad.any():
                    event = start + int(np.searchsorted(np.cumsum(counts[b]), np.argmax(bad), side="right"))
                    raise DataFileError(f"in {path}, the hits' {b} values hold NaN or infinity (first in event {event})")
            if layout.calibrated:
                flat_z = np.asarray(ak.flatten(values["z"]), dtype=np.float64)
                values["E"] = ak.unflatten(np.asarray(ak.flatten(values["E"])) * sampling_fraction(flat_z),
                                           counts["E"])
            start += len(chunk)
            yield dict(values, **{b: chunk[b] for b in truth})
    except (DataFileError, ParameterError):
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
        _make_reproducible(tmp)
    return path


def _make_reproducible(archive):
    """Rewrite a ``.keras`` zip so that the same model gives the same bytes: Keras stores
    Python object ids (``shared_object_id``), the save time and file dates in it. Ids are
    renumbered in order of appearance (loading only needs them consistent), the time dropped."""
    import re
    import zipfile

    with zipfile.ZipFile(archive) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    ids = {}
    members["config.json"] = re.sub(rb'"shared_object_id": (\d+)', lambda m: b'"shared_object_id": %d' % ids.setdefault(
        m.group(1), len(ids)), members["config.json"])
    metadata = json.loads(members.get("metadata.json", b"{}"))
    metadata.pop("date_saved", None)
    members["metadata.json"] = json.dumps(metadata, sort_keys=True).encode()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def load_model(path, n_inputs=None):
    """Load a ``.keras`` model (the library's custom layers and losses included), or refuse
    with one sentence: a missing file, another format, a file Keras cannot read, or a
    model with another number of inputs than ``n_inputs``."""
    import keras

    from . import models  # noqa: F401 - registers the custom layers and losses

    path = Path(path)
    if not path.is_file():
        raise missing_file(path)
    if path.suffix != ".keras":
        raise DataFileError(f"{path} is not a .keras model file (this library saves no pickle, HDF5 or SavedModel)")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise DataFileError(f"{path} is not a Keras model this version can load (a .keras file is a zip archive)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for foreign files
        if "Lambda" in str(error) and "safe_mode" in str(error):
            raise DataFileError(f"{path} holds a Lambda layer, whose Python code Keras does not load from a file "
                                f"(safe mode): rebuild the model from its builder and load the weights") from None
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        reason = first if len(first) <= 160 else first[:first.rfind(" ", 0, 160)] + " ..."
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
        raise missing_file(path)
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
    with atomic_output(path) as tmp, warnings.catch_warnings():
        # tf2onnx touches np.object, which NumPy 2 warns about; the exported model is checked against Keras
        warnings.filterwarnings("ignore", message=".*np.object", category=FutureWarning)
        model.export(str(tmp), format="onnx", verbose=False)
    return path


class OnnxModel:
    """An ONNX model run by onnxruntime on the CPU, called like ``keras.Model.predict``
    with a list of inputs in the order of the model's inputs."""

    def __init__(self, path):
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise missing_file(path)
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
