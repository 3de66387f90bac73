"""Files this library writes and reads: atomic writes that never replace a file the
library did not write, what kind of file a path holds, and the ROOT objects in it.

Every output goes to a hidden partial file renamed into place when complete, so an
interrupted run never leaves a half-written file under the final name; the next writer
of the same path removes what a killed one left. A data file (HDF5, ROOT) already at the
target is replaced only if this library wrote it (``check_replaceable``).

Contents: ``WRITTEN_BY``, ``PROJECT_DATA_DIR``, ``DATA_SUFFIXES``,
``written_by_this_library``, ``check_replaceable``, ``atomic_output``,
``hdf5_for_writing``, ``remove_stale_partials``, ``remove_stale_partials_under``, ``missing_file``, ``file_format``,
``format_from_suffix``, ``progress_disabled``; ROOT: ``TREE_CLASSES``, ``RNTUPLE_CLASS``,
``root_trees``, ``describe_root_objects``, ``open_root``, ``root_attributes``.
"""

import contextlib
import json
import os
from pathlib import Path

from ..errors import DataFileError
from ..repository import PROJECT_DATA_DIR
from ..stage_list import run_command, stage_writing


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


ROOT_MAGIC = b"root"


#: Mark of this library's data files: an HDF5 attribute, a key of a ROOT file's ``attrs``.
WRITTEN_BY = "analysis_lib"


DATA_SUFFIXES = (".h5", ".hdf5", ".root")


def written_by_this_library(path):
    """True for an HDF5 or ROOT file that carries this library's mark, ``written_by`` =
    ``WRITTEN_BY``; False for anything else, unreadable included. Nothing else counts: a
    ``library_version`` attribute, say, is what a user's own converter may write too."""
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
                attrs = root_attributes(f, path)
    except Exception:  # anything unreadable is not ours
        return False
    return isinstance(attrs, dict) and attrs.get("written_by") == WRITTEN_BY


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
def hdf5_for_writing(path):
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
    return _remove_dead(path.parent.glob(f".{path.stem}.partial-*{path.suffix}"))


def remove_stale_partials_under(folder):
    """The same for every partial file anywhere under ``folder`` (a stage's outputs)."""
    folder = Path(folder)
    return _remove_dead(folder.rglob(".*.partial-*")) if folder.is_dir() else []


def _remove_dead(partials):
    removed = []
    for partial in partials:
        pid = partial.name.split(".partial-", 1)[1]
        pid = pid[:len(pid) - len(pid.lstrip("0123456789"))]  # .<stem>.partial-<pid><suffix>
        if pid and not _alive(int(pid)):
            if partial.is_dir():
                import shutil

                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
            removed.append(partial)
    return removed


def missing_file(path):
    """The error for a file that is not there: for a file of the project's own data
    folder (a notebook opened before ``make book``), with the command that makes it."""
    made_by = stage_writing(path)
    hint = f"; make it with: {run_command(*made_by)}" if made_by else ""
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


def progress_disabled(progress):
    """No progress bar when not asked for, or where TQDM_DISABLE is set (the pipeline
    sets it: in a book page a bar would print as a block of text)."""
    return not progress or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


#: ROOT classes read as trees, and the one that is not.
TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD")


RNTUPLE_CLASS = "ROOT::RNTuple"


def root_trees(file):
    """{path in the file: class name} of every tree and RNTuple, directories included."""
    return {k.rsplit(";", 1)[0]: c for k, c in file.classnames().items() if c in TREE_CLASSES + (RNTUPLE_CLASS,)}


def describe_root_objects(objects):
    return ", ".join(f"{'RNTuple' if c == RNTUPLE_CLASS else c} {k!r}" for k, c in objects.items()) or "no tree"


def open_root(path):
    """The ROOT file at ``path``, opened with uproot, once it is known to be whole: its
    header's end-of-file pointer (``fEND``) within the bytes on disk. A file cut short
    still opens, and its first events read, so without this check a study that reads
    only the beginning would run on a damaged file without a word."""
    import uproot

    path = Path(path)
    if file_format(path) != "root":
        raise DataFileError(f"{path} is not a ROOT file")
    try:
        file = uproot.open(path)
    except Exception as error:  # uproot raises many types for a damaged file
        raise DataFileError(f"{path} is truncated or corrupted and cannot be opened ({type(error).__name__})") from None
    size = path.stat().st_size
    if file.file.fEND > size:
        file.close()
        raise DataFileError(f"{path} is truncated or corrupted and cannot be read (its header says it ends at byte "
                            f"{file.file.fEND}, the file has {size})")
    return file


def root_attributes(file, path, folder=""):
    """The attributes this library keeps in a ROOT file: the JSON object of the string
    (``TObjString``) named ``attrs`` beside the tree in ``folder``, else at the top; {}
    where there is none. Another object of that name (a user's histogram) is not ours
    and is passed over."""
    for key in dict.fromkeys((folder + "attrs", "attrs")):
        if key in file and file.classname_of(key) == "TObjString":
            try:
                attrs = json.loads(str(file[key]))
            except ValueError:
                attrs = None
            if not isinstance(attrs, dict):
                raise DataFileError(f"the 'attrs' of {path} is not a JSON object of attributes")
            return attrs
    return {}
