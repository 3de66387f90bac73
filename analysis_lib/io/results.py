"""What the notebooks hand on to later stages: named arrays (HDF5), residuals of the
shashlik study and tables (CSV, readable anywhere, no pickle); all written atomically.

Contents: ``save_arrays``, ``save_array_chunks`` (arrays that do not fit in memory at
once), ``load_arrays``, ``save_residuals``, ``load_residuals``, ``save_table``,
``load_table``.
"""

from pathlib import Path

import numpy as np

from ..errors import DataFileError
from .files import WRITTEN_BY, atomic_output, file_format, hdf5_for_writing, missing_file


def save_arrays(path, attrs=None, **arrays):
    """Write named arrays (and string/number attributes) to an HDF5 file, atomically."""
    with atomic_output(path) as tmp:
        with hdf5_for_writing(tmp) as (f, _):
            for name, values in arrays.items():
                f.create_dataset(name, data=np.asarray(values))
            f.attrs.update(dict(attrs or {}, written_by=WRITTEN_BY))
    return Path(path)


def save_array_chunks(path, chunks, attrs=None):
    """Write chunks (dicts of arrays with the same names, concatenated along their first
    axis) to an HDF5 file as they come, atomically: only one chunk is ever in memory.
    Reads back with ``load_arrays`` like a file of ``save_arrays``. Returns the path."""
    with atomic_output(path) as tmp:
        with hdf5_for_writing(tmp) as (f, _):
            for chunk in chunks:
                for name, values in chunk.items():
                    values = np.asarray(values)
                    if name not in f:
                        f.create_dataset(name, data=values, maxshape=(None,) + values.shape[1:],
                                         chunks=True)
                        continue
                    dataset = f[name]
                    dataset.resize(dataset.shape[0] + len(values), axis=0)
                    dataset[-len(values):] = values
            f.attrs.update(dict(attrs or {}, written_by=WRITTEN_BY))
    return Path(path)


def load_arrays(path, required=(), names=None):
    """Read the datasets of an HDF5 file written by ``save_arrays`` into a dict: all of
    them, or only ``names`` (what a stage needs of a file too large to read whole)."""
    import h5py

    path = Path(path)
    if file_format(path) != "hdf5":
        raise DataFileError(f"{path} is not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            arrays = {k: np.asarray(f[k]) for k in f if names is None or k in names}
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
        lacking = f" (missing {missing[0]})" if missing else ""
        raise DataFileError(f"{path} holds no residuals of a regression study{lacking}")
    residuals = {m: {k: arrays.pop(f"{m}: {k}") for k in "xye"} for m in methods}
    return residuals, arrays, str(attrs.get("study", ""))


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
