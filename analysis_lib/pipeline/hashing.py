"""What a stage's result depends on, and its content hash: the stage's notebook, its
parameters, the files it reads (``stage_inputs``: its declared reads and every path a
parameter names, your own data folder included) and the library modules its notebook
imports (``library_sources``, following the library's own imports).

Contents: ``LIBRARY_DIR``, ``HashingStopped``, ``stage_inputs``, ``module_dependencies``,
``library_sources``, ``stage_hash``.
"""

import ast
import hashlib
import json
import os
from pathlib import Path

from ..errors import DataFileError
from ..python_source import parse_python
from ..stage_list import default_root, is_output_parameter

LIBRARY_DIR = Path(__file__).resolve().parents[1]


_FILE_DIGESTS = {}  # (path, size, mtime, inode) -> sha256: a file is read once per process
# (path, size, mtime) -> syntax tree, and -> (module, names) of its imports: a run hashes each stage twice
# and a module is on the way of most stages (hashing the 41 stages took 25 s, 4 s parsing each module once)
_TREES, _IMPORTS = {}, {}


class HashingStopped(Exception):
    """The run was stopped (Ctrl-C) while a stage's inputs were being hashed."""


def _file_digest(file, stop=None):
    """sha256 of a file, read in blocks; ``stop`` (an Event) set ends it within a block, so
    Ctrl-C stops a run within a second even while a many-GB file of yours is hashed."""
    try:
        info = file.stat()
        key = (str(file.resolve()), info.st_size, info.st_mtime_ns, info.st_ino)
        if key not in _FILE_DIGESTS:
            digest = hashlib.sha256()
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    if stop is not None and stop.is_set():
                        raise HashingStopped
                    digest.update(block)
            _FILE_DIGESTS[key] = digest.hexdigest()
    except OSError as error:  # deleted while hashed, unreadable
        raise DataFileError(f"cannot read {file} to tell whether it changed: {error.strerror or error}") from None
    return _FILE_DIGESTS[key]


def _visible_files(folder, recursive=True):
    """Files of a folder, without hidden ones (the partial files of atomic writes); hidden
    subfolders are not entered at all (``-p data_dir=~`` would walk every cache), nor are
    links to folders (a loop, or a link to ``/``). An unreadable folder raises its OSError."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))

    def unreadable(error):
        raise error

    found = []
    for top, folders, files in os.walk(folder, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(top) / name for name in files if not name.startswith(".")]
    return sorted(p for p in found if p.is_file())


def stage_inputs(stage, parameters, data_dir, root, outputs=()):
    """The files a stage's result depends on: everything under its declared ``reads``,
    and every existing path a parameter names (your own ``data_dir`` included), folders
    with their subfolders, inside the profile's data folder too (a folder of yours copied
    there counts whole). What other stages write (``outputs``: every output of the stage
    list) inside such a folder is left out unless the stage declares it a read: those are
    other stages' results, and a folder that holds them would otherwise change whenever a
    later stage runs. The repository's own folder (``-p data_dir=.``) counts with the files
    directly in it. What the stage itself writes is left out. A plain word names a setting or
    a page, never a file (``_names_a_path``: the scale chapter's ``gun="book"`` is not the
    repository's ``book/``)."""
    written = [p.resolve() for p in stage.paths("writes", data_dir)]
    outputs = [Path(o).resolve() for o in outputs]
    files = set()
    for path in stage.paths("reads", data_dir):
        if path.is_dir():
            files.update(_visible_files(path))
        elif path.is_file():
            files.add(path)
    for name, value in parameters.items():
        if is_output_parameter(name) or not isinstance(value, str) or not _names_a_path(value):
            continue
        path = (Path(value) if Path(value).is_absolute() else Path(root) / value).resolve()
        if path.is_dir():
            inside = [o for o in outputs if path in o.parents]  # other stages' results below this folder
            files.update(f for f in _visible_files(path, recursive=path != Path(root).resolve())
                         if not any(o == f or o in f.parents for o in inside))
        elif path.is_file():
            files.add(path)
    files = {f.resolve() for f in files}
    return sorted(f for f in files if not any(f == w or w in f.parents for w in written))


def _names_a_path(value):
    """Whether a parameter's text names a file or folder: an absolute path, one with a folder
    in it, "." or "..". A plain word ("book", "keep", "axion1") is a name even where a folder
    of that name exists; the runner makes every path parameter absolute before hashing."""
    path = Path(value)
    return bool(value) and (path.is_absolute() or len(path.parts) != 1 or value == "..")


def _module_file(name):
    """The source file of ``analysis_lib.<...>`` (None for anything else)."""
    parts = name.split(".")
    if parts[0] != LIBRARY_DIR.name:
        return None
    base = LIBRARY_DIR.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file() and len(parts) > 1:
        return base.with_suffix(".py")
    return base / "__init__.py" if (base / "__init__.py").is_file() else None


def _imports(tree, module, is_package):
    """(module, imported names) of every import in ``tree``, function bodies included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[:len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            yield base, tuple(alias.name for alias in node.names)


def _stat_key(file):
    stat = file.stat()
    return str(file), stat.st_size, stat.st_mtime_ns


def _parse(file):
    key = _stat_key(file)
    if key not in _TREES:
        _TREES[key] = parse_python(file.read_text(), str(file))
    return _TREES[key]


def _targets(module, names):
    """The modules ``from module import names`` makes a result depend on: a name that is
    a submodule or that a package re-exports from one counts as that submodule only."""
    file = _module_file(module)
    if file is None:
        return set()
    if file.name != "__init__.py" or not names:
        return {module}
    reexports = {alias.asname or alias.name: f"{module}.{node.module}"
                 for node in _parse(file).body if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
                 for alias in node.names}
    found = set()
    for name in names:
        if _module_file(f"{module}.{name}"):
            found.add(f"{module}.{name}")
        else:
            found.add(reexports.get(name, module))
    return found


def module_dependencies(module):
    """The library modules that ``module`` (a dotted name) imports, function bodies
    included, each as ``_targets`` resolves it: the edges of the library's import graph."""
    file = _module_file(module)
    key = (*_stat_key(file), module)
    if key not in _IMPORTS:
        _IMPORTS[key] = list(_imports(_parse(file), module, file.name == "__init__.py"))
    imported = [_targets(m, n) for m, n in _IMPORTS[key]]
    return set().union(*imported) - {module}


def library_sources(notebook):
    """The library files a notebook's results depend on: the modules its code imports
    from ``analysis_lib``, followed through the library's own imports (inside functions
    too), plus the ``__init__.py`` of every package on the way. Editing any other module
    leaves the notebook's stages current."""
    return _library_sources(notebook)


def _library_sources(notebook):
    cells = json.loads(Path(notebook).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = parse_python(code)
    except SyntaxError:  # cannot tell: everything counts
        return sorted(LIBRARY_DIR.rglob("*.py"))
    pending = set().union(*[_targets(m, n) for m, n in _imports(tree, "__notebook__", False)] or [set()])
    done = set()
    while pending:
        module = pending.pop()
        done.add(module)
        pending |= module_dependencies(module) - done
    files = set()
    for module in done:
        parts = module.split(".")
        files.add(_module_file(module))
        files.update(_module_file(".".join(parts[:i])) for i in range(1, len(parts)))
    return sorted(f for f in files if f is not None)


def stage_hash(stage, parameters, data_dir, root=None, outputs=(), stop=None):
    """Content hash of what a stage's result depends on: its notebook's cells, its
    parameters, its entry's parameters for every profile (a page that quotes the ``full``
    profile's sizes shows them), the files of ``stage_inputs`` (``outputs``: every output of
    the stage list) and the ``library_sources`` it imports. ``stop`` (an Event) set raises
    ``HashingStopped``; a file that cannot be read, ``errors.DataFileError``."""
    root = Path(root or default_root())
    digest = hashlib.sha256()
    notebook = json.loads(stage.notebook.read_text())
    for cell in notebook["cells"]:
        digest.update(cell["cell_type"].encode())
        digest.update("".join(cell["source"]).encode())
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    digest.update(json.dumps(stage.parameters, sort_keys=True, default=str).encode())
    try:
        files = stage_inputs(stage, parameters, data_dir, root, outputs) + library_sources(stage.notebook)
    except OSError as error:  # a folder that cannot be listed
        raise DataFileError(f"cannot look through {error.filename or 'a folder'} for {stage.id}'s inputs: "
                            f"{error.strerror or error}") from None
    for file in files:
        digest.update(str(file.name).encode())
        digest.update(_file_digest(file, stop).encode())
    return digest.hexdigest()
