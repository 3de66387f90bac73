"""Shower files: calorimeter images per event, HDF5 or ROOT, one reader for both (the
published photon-jet dataset's layout, so its real files load too).

* HDF5: datasets ``layer_0`` ... ``layer_<n>``, shape (events, phi bins, eta bins),
  cell energies in MeV (any real type, read as float32); optional truth datasets; file
  attributes (``particle``, ``units``, ``seed``, ...), ``units`` MeV if absent.
* ROOT: a TTree (or TNtuple) with the same names as branches (fixed-size arrays, or flat
  per-event vectors of phi x eta cells), found by its branches anywhere in the file,
  directories included; attributes as a JSON string ``attrs``.

Cells may be negative (noise-subtracted read-outs): ``negative_cells`` says whether to
keep them (default), clip them to zero, or refuse the file. Writers work chunk by chunk
(bounded memory) and atomically.

Contents: ``TREE_NAME``, ``UNIT_TO_MEV``, ``NEGATIVE_CELLS``, ``write_showers``,
``ShowerSample``, ``read_showers``, ``iterate_showers``.
"""

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..detectors import ATLAS_ECAL
from ..errors import DataFileError, EmptyDatasetError, ParameterError
from ..ranges import NEGATIVE_CELLS
from .files import (RNTUPLE_CLASS, TREE_CLASSES, WRITTEN_BY, atomic_output, describe_root_objects, file_format,
                    format_from_suffix, hdf5_for_writing, open_root, progress_disabled, root_attributes, root_trees)


TREE_NAME = "showers"


UNIT_TO_MEV = {"MeV": 1.0, "GeV": 1000.0, "keV": 1e-3}


class _Hdf5Writer:
    def __init__(self, path, n_events, attrs):
        self.opened = hdf5_for_writing(path)
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
        bar = stack.enter_context(tqdm(total=n_events, unit="event", disable=progress_disabled(progress),
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
        missing = [name for name in names if f.get(name, getlink=True) is None]
        if missing:
            raise DataFileError(f"{path} has no dataset {missing[0]!r}; shower files need {names[0]} ... {names[-1]}")
        for name in names:
            _check_own_data(f, name, path)
            if not isinstance(f[name], h5py.Dataset):
                raise DataFileError(f"{name} in {path} is an HDF5 group, not a dataset of cell energies")
            if f[name].ndim == 0:
                raise DataFileError(f"{name} in {path} is a single number, not cell energies event by event")
            if not (np.issubdtype(f[name].dtype, np.integer) or np.issubdtype(f[name].dtype, np.floating)):
                raise DataFileError(f"{name} in {path} holds {f[name].dtype} values, not real numbers")
        # converted to float32 while reading: the published float64 files never sit in memory twice
        layers = [f[name].astype(np.float32)[start:stop] for name in names]
        for name, layer in zip(names, layers):
            _check_float32_range(f[name], layer, name, path, start)
        truth = {}
        for k in f:
            if not k.startswith("layer_"):
                _check_own_data(f, k, path)
                if isinstance(f[k], h5py.Dataset) and f[k].ndim >= 1:
                    truth[k] = np.asarray(f[k][start:stop])
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return layers, truth, attrs


def _check_own_data(f, name, path):
    """Refuse a dataset that is a link to another file, or a soft link to nothing:
    h5py's own errors for them read as a damaged file."""
    import h5py

    link = f.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise DataFileError(f"{name} in {path} is a link to {link.filename}, not data of its own; "
                            f"copy the datasets into one file")
    if isinstance(link, h5py.SoftLink) and f.get(link.path) is None:
        raise DataFileError(f"{name} in {path} is a soft link to {link.path}, which is not in the file")


def _check_float32_range(dataset, layer, name, path, start):
    """Cells stored as float64 beyond float32's range (3.4e38) become infinite when read
    as float32: say so, rather than that the file holds infinities."""
    if dataset.dtype.itemsize <= 4 or np.isfinite(layer).all():
        return
    event = int(np.argwhere(~np.isfinite(layer))[0][0])
    stored = np.asarray(dataset[start + event], np.float64)
    if np.isfinite(stored).all():
        raise _beyond_float32(name, path, np.abs(stored).max(), event)


def _beyond_float32(name, path, largest, event):
    return DataFileError(f"{name} in {path} has cell energies beyond float32's range (up to {largest:.3g}, "
                         f"event {event}); cells are read as float32")


def _read_root(path, names, start, stop, tree_path=None):
    with open_root(path) as f:
        objects = root_trees(f)
        trees = {k: f[k] for k, c in objects.items() if c in TREE_CLASSES}
        if tree_path is not None:
            if tree_path not in trees:
                raise DataFileError(f"{path} has no tree {tree_path!r} (it holds {describe_root_objects(objects)})")
            trees = {tree_path: trees[tree_path]}
        holding = [k for k, t in trees.items() if all(n in t for n in names)]
        if not holding:
            unread = (" (RNTuples are not read: write the layers as a TTree)"
                      if RNTUPLE_CLASS in objects.values() else "")
            raise DataFileError(f"{path} has no tree with branches {names[0]} ... {names[-1]}; "
                                f"looked at {describe_root_objects(objects)}{unread}")
        if len(holding) > 1 and TREE_NAME not in holding:
            raise DataFileError(f"{path} has the layers in several trees ({', '.join(holding)}): "
                                f"name one with the tree option")
        name = TREE_NAME if TREE_NAME in holding else holding[0]
        arrays = trees[name].arrays(library="np", entry_start=start, entry_stop=stop)
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        attrs = root_attributes(f, path, folder)
    layers = [_regular(arrays.pop(n), n, path) for n in names]
    truth = {k: v for k, v in arrays.items() if v.dtype != object}  # jagged truth is not needed here
    return layers, truth, attrs


def _regular(values, name, path):
    """Turn an object array of per-event vectors into a 2-D array, or refuse."""
    if values.dtype != object:
        return values
    lengths = {len(v) for v in values}
    if len(lengths) > 1:
        raise DataFileError(f"branch {name!r} in {path} has per-event lengths {sorted(lengths)[:4]}, expected one "
                            "fixed length")
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
        raise DataFileError(f"{path} gives cell energies in unknown units {unit!r}; expected one of "
                            f"{', '.join(UNIT_TO_MEV)}")
    checked = []
    for i, (layer, expected) in enumerate(zip(layers, detector.layer_shapes)):
        name = f"layer_{i}"
        if len(layer) != n:
            raise DataFileError(f"{name} in {path} has {len(layer)} events but layer_0 has {n}")
        if layer.ndim == 2 and layer.shape[1] == expected[0] * expected[1]:
            layer = layer.reshape((n,) + tuple(expected))  # flat per-event vectors from ROOT
        if layer.shape[1:] != tuple(expected):
            raise DataFileError(f"{name} in {path} has cells {layer.shape[1:]} per event, expected {tuple(expected)} "
                                "(phi x eta)")
        if not (np.issubdtype(layer.dtype, np.integer) or np.issubdtype(layer.dtype, np.floating)):
            raise DataFileError(f"{name} in {path} holds {layer.dtype} values, not real numbers")
        stored, layer = layer, layer.astype(np.float32, copy=False)
        if unit != "MeV":
            layer *= np.float32(UNIT_TO_MEV[unit])
        bad = ~np.isfinite(layer)
        if bad.any():
            event = int(np.argwhere(bad)[0][0])
            if stored is not layer and np.isfinite(stored[bad]).all():  # float64 cells past float32's range
                raise _beyond_float32(name, path, np.abs(stored).max(), event)
            raise DataFileError(f"{name} in {path} has {int(bad.sum())} NaN or infinite cell energies "
                                f"(first in event {event})")
        if layer.min() < 0:
            if negative_cells == "refuse":
                raise DataFileError(f"{name} in {path} has negative cell energies (lowest {layer.min():.3g} MeV in "
                                    f"event {int(np.argmin(layer.reshape(n, -1).min(1)))}), refused as asked")
            if negative_cells == "clip":
                layer = np.maximum(layer, np.float32(0.0))
        checked.append(layer)
    truth = {k: v for k, v in truth.items() if len(v) == n}
    return ShowerSample(checked, truth, dict(attrs, units="MeV"), path)
