"""The notebook pipeline: run the book's stages with papermill.

The stages come from ``stages.yml`` (``stage_list``: each stage's notebook, its
parameters per profile, what it ``reads`` and ``writes``, the graph those make).

A stage is skipped when the content hash of its notebook, its parameters, the
files it reads (``stage_inputs``: its declared reads and every path a parameter
names, your own data folder included) and the library modules its notebook imports
(``library_sources``) is the one recorded before its last successful run, and its
outputs still exist: those declared, and every file it was seen to write
(``Pipeline.written_files``). A run holds its data and book folders (a file lock): a
second run on them is refused in one sentence naming the first. The record (a stamp) is removed when a stage starts and written
atomically once all its outputs exist, so a stage stopped half-way is never current.
A failing stage stops only the stages that depend on it; the run goes on with the rest
and exits non-zero. Ctrl-C (or SIGTERM) interrupts the running kernels at once.

Parameters are checked before anything runs: names and types against the notebooks'
``parameters`` cells, values against ``PARAMETER_RANGES``, and an override never
redirects where a stage writes. ``scale`` runs a profile at reduced size
(``scale_profile``) into folders of its own. Every stage's kernel reports its peak
memory from a last cell the pipeline appends (hidden in the book's page); ``book_pages``
makes each executed notebook a page of the book.

Contents: ``sweep``, ``parse_value``, ``parse_overrides``, ``notebook_parameters``, ``PARAMETER_RANGES``,
``check_range``, ``scale_profile``, ``check_parameters``, ``stage_inputs``, ``module_dependencies``,
``library_sources``, ``stage_hash``, ``StageResult``, ``Pipeline``, ``results_table``, ``summary_table``;
re-exported from ``stage_list``: ``Stage``, ``load_stages``, ``headline_files``, ``dependencies``, ``select``,
``book_page``, ``default_root``.
"""

import ast
import contextlib
import hashlib
import json
import math
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .book_pages import finish_page
from .errors import ParameterError, PipelineError
from .io import atomic_output
from .reporting import PEAK_MEMORY_CELL, read_claims, read_records
# the stage list's names, re-exported: the runner is where readers of the code look for them
from .stage_list import (PROFILES, Stage, book_page, check_profile, default_root, dependencies,  # noqa: F401
                         headline_files, load_stages, select)

LIBRARY_DIR = Path(__file__).resolve().parent
#: The longest a running stage goes without a line on the terminal.
PROGRESS_EVERY_S = 30
#: Messages of kernel start-up races that papermill hits with parallel kernels; retried once.
TRANSIENT_KERNEL_ERRORS = ("Address already in use", "Kernel didn't respond", "Kernel died before replying")


def sweep(stages, grid):
    """Expand every stage that declares all parameters of ``grid`` ({name: [values]}) into
    one variant per combination, e.g. a grid of learning rates and widths. A variant's
    id and page get the combination as suffix and what it writes goes to folders of its
    own (its ``writes`` and the parameters pointing into them), so the variants run side by
    side on a cluster. Stages that read a swept stage's output are left out: they would
    read none of the variants."""
    import itertools

    if not grid:
        return stages
    names = list(grid)
    swept, moved, variants = [], set(), set()
    for stage in stages:
        declared = notebook_parameters(stage.notebook)
        if not all(name in declared for name in names):
            swept.append(stage)
            continue
        moved.update(stage.writes)
        for combination in itertools.product(*(grid[name] for name in names)):
            tag = ",".join(f"{name}={value}" for name, value in zip(names, combination))

            def relocate(value, tag=tag, writes=tuple(stage.writes)):
                for written in writes:
                    if isinstance(value, str) and value.startswith(written):
                        return f"{written}.sweep[{tag}]{value[len(written):]}"
                return value

            parameters = {profile: {k: relocate(v) for k, v in values.items()}
                          for profile, values in stage.parameters.items()}
            parameters["all"] = {**parameters.get("all", {}), **dict(zip(names, combination))}
            variants.add(f"{stage.id}[{tag}]")
            swept.append(Stage(f"{stage.id}[{tag}]", stage.notebook, parameters, list(stage.reads),
                               [relocate(w) for w in stage.writes], f"{stage.variant}[{tag}]"))
    if not variants:
        raise ParameterError(f"no selected stage has all the swept parameters {', '.join(names)}")
    left_out = set()
    for stage in swept:  # in dependency order: one pass finds the readers of readers too
        if stage.id not in variants and any(_overlaps(r, w) for r in stage.reads for w in moved):
            left_out.add(stage.id)
            moved.update(stage.writes)
    return [s for s in swept if s.id not in left_out]


def _overlaps(a, b):
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


# -- parameters ----------------------------------------------------------------
def parse_value(text):
    """Parse a command-line parameter value: JSON, then a Python literal, else a string."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError):
            pass
    return text


def parse_overrides(pairs):
    overrides = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"parameter {pair!r} is not of the form name=value")
        overrides[name.strip()] = parse_value(value)
    return overrides


def notebook_parameters(notebook):
    """{name: default value} of a notebook's ``parameters`` cell (None where not a literal)."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    defaults = {}
    for name, info in declared.items():
        try:
            defaults[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            defaults[name] = None
    return defaults


def _type_ok(default, value):
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def _whole(low):
    def check(value):
        return isinstance(value, int) and not isinstance(value, bool) and value >= low
    return check, f"a whole number of at least {low}"


def _positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _increasing(value):
    return (len(value) >= 2 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
            and all(a < b for a, b in zip(value, value[1:])))


#: Ranges of the notebooks' parameters, checked before any stage runs (the types are
#: checked against the notebooks' defaults). Names not listed follow the patterns of
#: ``_range_of``: counts of events and epochs are whole numbers of at least 1.
PARAMETER_RANGES = {
    "seed": (lambda v: isinstance(v, int) and 0 <= v < 2**63, "a whole number from 0 to 2**63 - 1"),
    "events_per_class": _whole(0), "n_iminuit": _whole(0), "patience": _whole(0), "event_index": _whole(0),
    "learning_rate": (_positive, "a finite number above 0"),
    "learning_rates": (lambda v: len(v) > 0 and all(len(p) == 2 and isinstance(p[0], int) and p[0] >= 1 and _positive(p[1])
                                                    for p in v), "a non-empty list of [epochs, rate] pairs"),
    "target_efficiency": (lambda v: 0 < v < 1, "a fraction between 0 and 1"),
    "conversion_fraction": (lambda v: 0 <= v <= 1, "a fraction from 0 to 1"),
    "energy_range_gev": (lambda v: len(v) == 2 and all(_positive(e) for e in v) and v[0] <= v[1],
                         "two finite energies 0 < low <= high"),
    "tolerance": (_positive, "a finite number above 0"), "huber_delta": (_positive, "a finite number above 0"),
    "negative_cells": (lambda v: v in ("keep", "clip", "refuse"), "one of keep, clip, refuse"),
    "mip_charge": (_positive, "a finite charge above 0"),
    "ladder_events_per_class": _whole(10), "gbdt_iterations": _whole(1), "region_epochs": _whole(0),
    "spread_seeds": (lambda v: len(set(v)) == len(v) and all(isinstance(s, int) and 0 <= s < 2**63 for s in v),
                     "a list of distinct whole numbers from 0 to 2**63 - 1 (empty: no extra seeds)"),
    "size_curve_events_per_class": (lambda v: len(v) > 0 and all(isinstance(n, int) and n >= 10 for n in v),
                                    "a non-empty list of whole numbers of at least 10"),
}
for _name in ("energies_gev", "scan_energies_gev", "masses_mev", "separation_mm"):
    PARAMETER_RANGES[_name] = (lambda v: len(v) > 0 and all(_positive(e) for e in v), "a non-empty list of positive numbers")
for _name in ("energy_bins_gev", "et_edges", "eta_edges"):
    PARAMETER_RANGES[_name] = (_increasing, "at least two increasing bin edges")


def _range_of(name):
    if name in PARAMETER_RANGES:
        return PARAMETER_RANGES[name]
    if name.startswith("n_") or name.endswith(("_events", "epochs", "_steps", "_samples")) or name in (
            "batch_size", "filters", "dense", "max_depth", "max_points", "image_size", "step_size", "depth"):
        return _whole(1)
    return None


def check_range(name, value, label=None):
    """Refuse a parameter value outside its range (``PARAMETER_RANGES``), in one sentence
    naming it as ``label`` (default: parameter 'name')."""
    rule = _range_of(name)
    if rule is not None and value is not None:
        test, what = rule
        try:
            fine = bool(test(value))
        except (TypeError, ValueError):
            fine = False
        if not fine:
            raise ParameterError(f"{label or f'parameter {name!r}'} must be {what}, got {value!r}")


def _names_output(value, written):
    """Whether a parameter's value is one of a stage's outputs, or the folder a written
    file goes into (a simulation's ``data_dir``; an output folder nested in an input
    folder does not count)."""
    if not isinstance(value, str):
        return False
    value = Path(value)
    return any(value == p or (p.suffix and value == p.parent) for p in written)


def _names_input(value, read):
    """Whether a parameter's value is one of a stage's reads, inside one or holds one."""
    if not isinstance(value, str):
        return False
    value = Path(value)
    return any(value == r or r in value.parents or value in r.parents for r in read)


def _check_exists(name, value, stage, root):
    path = Path(value) if not isinstance(value, str) or Path(value).is_absolute() else Path(root or ".") / value
    if not isinstance(value, str) or not path.exists():
        raise ParameterError(f"-p {name}={value}: no such file or folder ({stage.id} reads it)")


def _is_size(name):
    """Whether a parameter counts events or epochs (what ``scale_profile`` shrinks)."""
    return ((name.startswith("n_") and name not in ("n_trees", "n_bins"))
            or name.endswith(("events", "events_per_class", "epochs")))


def scale_profile(stage, profile, factor, defaults):
    """The event counts and epochs of ``stage`` under ``profile`` (from stages.yml, else
    the notebook's ``defaults``), times ``factor``: the profile's code paths at a size a
    laptop runs. Never below the ``smoke`` profile's value, or where it sets none below
    20 (or the value itself, if smaller). Lists of sizes are scaled entry by entry.
    Returns {name: value}."""
    if not (isinstance(factor, (int, float)) and 0 < factor <= 1):
        raise ParameterError(f"--scale must be a number above 0 and at most 1, got {factor!r}")
    smoke = {**stage.parameters.get("all", {}), **stage.parameters.get("smoke", {})}
    values = {**defaults, **stage.parameters.get("all", {}), **stage.parameters.get(profile, {})}

    def shrink(value, floor):
        return max(int(round(value * factor)), min(floor, value))

    scaled = {}
    for name, value in values.items():
        if not _is_size(name) or isinstance(value, bool):
            continue
        if isinstance(value, int):
            scaled[name] = shrink(value, smoke[name] if isinstance(smoke.get(name), int) else 20)
        elif isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            floor = min(smoke[name]) if smoke.get(name) else 20
            scaled[name] = sorted({shrink(v, floor) for v in value})
    return scaled


def check_parameters(stages, profile, overrides, data_dir, scale=1, root=None):
    """Refuse unknown names and wrong types, in stages.yml and on the command line,
    before anything runs. Returns {stage id: parameters to pass}.

    An override never redirects where a stage writes: a parameter whose stages.yml value
    is one of the stage's ``writes`` (a simulation's output folder, a model's folder)
    keeps that value, so ``-p data_dir=/your/files`` makes the reading stages read your
    files while the simulation upstream still writes into the pipeline's own folder.
    An override of what a stage reads must exist (relative paths from ``root``, where
    the notebooks run), or nothing runs. ``scale`` (below 1) shrinks the profile's sizes
    first (``scale_profile``)."""
    check_profile(profile)
    resolved, used, kept = {}, set(), set()
    for stage in stages:
        defaults = notebook_parameters(stage.notebook)
        params = stage.resolved_parameters(profile, data_dir)
        if scale != 1:
            params.update(scale_profile(stage, profile, scale, defaults))
        for name in params:
            if name not in defaults:
                raise ParameterError(f"stages.yml gives {stage.id} a parameter {name!r} that "
                                     f"{stage.notebook.name} does not declare")
        written, read = stage.paths("writes", data_dir), stage.paths("reads", data_dir)
        for name, value in overrides.items():
            if name in params and _names_output(params[name], written):
                kept.add(name)
            elif name in defaults:
                if name in params and _names_input(params[name], read):
                    _check_exists(name, value, stage, root)
                params[name] = value
                used.add(name)
        for name, value in params.items():
            if not _type_ok(defaults[name], value):
                raise ParameterError(f"parameter {name!r} of {stage.id} must be {type(defaults[name]).__name__} "
                                     f"like its default {defaults[name]!r}, got {value!r}")
            check_range(name, value)
        resolved[stage.id] = params
    if kept - used:
        raise ParameterError(f"parameter {sorted(kept - used)[0]!r} names where the selected stages write; overrides "
                             f"never redirect a stage's output (give --data-dir to move the whole data folder)")
    unknown = set(overrides) - used - kept
    if unknown:
        known = sorted(set().union(*(notebook_parameters(s.notebook) for s in stages)))
        raise ParameterError(f"no selected stage has a parameter {sorted(unknown)[0]!r}; known: {', '.join(known)}")
    return resolved


# -- hashing -------------------------------------------------------------------
_FILE_DIGESTS = {}  # (path, size, mtime, inode) -> sha256: a file is read once per process


def _file_digest(file):
    info = file.stat()
    key = (str(file.resolve()), info.st_size, info.st_mtime_ns, info.st_ino)
    if key not in _FILE_DIGESTS:
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _FILE_DIGESTS[key] = digest.hexdigest()
    return _FILE_DIGESTS[key]


def _visible_files(folder, recursive=True):
    """Files of a folder, without the hidden partial files of atomic writes."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def stage_inputs(stage, parameters, data_dir, root):
    """The files a stage's result depends on: everything under its declared ``reads``,
    and every existing path a parameter names (your own ``data_dir`` included). A folder
    of yours named by a parameter counts with everything in it, subfolders included; a
    folder inside ``data_dir`` (the profile's own) with the files directly in it, where
    the studies keep their inputs, since its subfolders are other stages' outputs,
    declared where they are read. What the stage itself writes is left out."""
    written = [p.resolve() for p in stage.paths("writes", data_dir)]
    files = set()
    for path in stage.paths("reads", data_dir):
        if path.is_dir():
            files.update(_visible_files(path))
        elif path.is_file():
            files.add(path)
    for value in parameters.values():
        if not isinstance(value, str) or not value or _names_output(value, written):
            continue
        path = Path(value) if Path(value).is_absolute() else Path(root) / value
        if path.resolve() == Path(root).resolve():
            continue
        ours = Path(data_dir).resolve() in (path.resolve(), *path.resolve().parents)
        if path.is_dir():
            files.update(_visible_files(path, recursive=not ours))
        elif path.is_file():
            files.add(path)
    files = {f.resolve() for f in files}
    return sorted(f for f in files if not any(f == w or w in f.parents for w in written))


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


def _parse(file):
    return ast.parse(file.read_text(), str(file))


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
    imported = [_targets(m, n) for m, n in _imports(_parse(file), module, file.name == "__init__.py")]
    return set().union(*imported) - {module}


_PARSING = threading.Lock()  # ast.parse is not thread-safe in CPython 3.11 (gh-106905); stages hash in threads


def library_sources(notebook):
    """The library files a notebook's results depend on: the modules its code imports
    from ``analysis_lib``, followed through the library's own imports (inside functions
    too), plus the ``__init__.py`` of every package on the way. Editing any other module
    leaves the notebook's stages current."""
    with _PARSING:
        return _library_sources(notebook)


def _library_sources(notebook):
    cells = json.loads(Path(notebook).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
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


def stage_hash(stage, parameters, data_dir, root=None):
    """Content hash of what a stage's result depends on: its notebook's cells, its
    parameters, the files of ``stage_inputs`` and the ``library_sources`` it imports."""
    root = Path(root or default_root())
    digest = hashlib.sha256()
    notebook = json.loads(stage.notebook.read_text())
    for cell in notebook["cells"]:
        digest.update(cell["cell_type"].encode())
        digest.update("".join(cell["source"]).encode())
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    for file in stage_inputs(stage, parameters, data_dir, root) + library_sources(stage.notebook):
        digest.update(str(file.name).encode())
        digest.update(_file_digest(file).encode())
    return digest.hexdigest()


# -- running -------------------------------------------------------------------
@dataclass
class StageResult:
    stage: str
    status: str  # ran, skipped, failed, blocked
    seconds: float = 0.0
    message: str = ""
    record: dict = field(default_factory=dict)
    claims: dict = field(default_factory=dict)  # {claim: whether it held on this run}

    @property
    def claims_not_held(self):
        return [name for name, holds in self.claims.items() if not holds]


class Pipeline:
    """Runs a selection of stages for one profile into ``book_dir``."""

    def __init__(self, stages, profile="book", root=None, data_dir=None, book_dir=None, state_dir=None,
                 jobs=1, overrides=None, force=False, log=print, scheduler=None, scale=1):
        self.root = Path(root or default_root()).resolve()
        self.stages, self.profile, self.scale = stages, profile, scale
        # a scaled run is a profile of its own: its own data and records, and its pages say so
        self.label = profile if scale == 1 else f"{profile}-scaled-{scale:g}"
        self.data_dir = Path(data_dir or self.root / "data" / self.label).resolve()
        self.book_dir = Path(book_dir or self.root / "book").resolve()
        self.state_dir = Path(state_dir or self.book_dir / ".pipeline" / self.label).resolve()
        if not isinstance(jobs, int) or jobs < 1:
            raise ParameterError(f"--jobs must be at least 1, got {jobs}")
        self.jobs, self.force, self.log = jobs, force, log
        self.scheduler = scheduler  # None: threads here; "local" or an address: Dask workers (shared disk)
        self.parameters = check_parameters(stages, profile, overrides or {}, self.data_dir, scale, self.root)
        folders = (("data", self.data_dir), ("book", self.book_dir))
        for name, folder in folders:  # both checked before either is made
            if folder.exists() and not folder.is_dir():
                raise ParameterError(f"the {name} folder {folder} is a file")
            existing = next(p for p in (folder, *folder.parents) if p.exists())
            if not existing.is_dir() or not os.access(existing, os.W_OK):
                raise ParameterError(f"the {name} folder {folder} cannot be made: {existing} is not a writable folder")
        made = []  # the folders this run creates, deepest first: removed again if the next cannot be made
        for name, folder in folders:
            new = [p for p in (folder, *folder.parents) if not p.exists()]
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                for empty in made:
                    with contextlib.suppress(OSError):
                        empty.rmdir()
                raise ParameterError(f"cannot create the {name} folder {folder}: {error.strerror or error}") from None
            made += new
        self._stopping = threading.Event()  # set by Ctrl-C: no stage starts after it
        self._counting = threading.Lock()
        self._finished = 0
        self._cells = {}  # stage id -> (cell index, cells, when the stage started): the progress lines
        self.deps = {sid: d & {s.id for s in stages} for sid, d in dependencies(stages, self.data_dir).items()}

    def __getstate__(self):  # a Dask worker gets the pipeline without the run's stop event and lock
        return {k: v for k, v in self.__dict__.items() if k not in ("_stopping", "_counting")}

    def __setstate__(self, state):
        self.__dict__.update(state, _stopping=threading.Event(), _counting=threading.Lock())

    def _ended(self):
        """``[k/N]``: how many of the run's stages have ended, this one included."""
        with self._counting:
            self._finished += 1
            return f"[{self._finished}/{len(self.stages)}]"

    def output_notebook(self, stage):
        return self.book_dir / book_page(stage, self.root)

    def _stamp(self, stage):
        return self.state_dir / (stage.id.replace("/", "__") + ".json")

    def is_current(self, stage, digest):
        """Whether the stage's stamp holds ``digest`` and every file it wrote last time
        (``written_files``) is still there with its size."""
        stamp = self._stamp(stage)
        if self.force or not stamp.is_file() or not self.output_notebook(stage).exists():
            return False
        if any(not p.exists() for p in stage.paths("writes", self.data_dir)):
            return False
        try:
            record = json.loads(stamp.read_text())
            written = record.get("outputs", {})
            return record.get("hash") == digest and all(
                (self.data_dir / name).is_file() and (self.data_dir / name).stat().st_size == size
                for name, size in written.items())
        except (OSError, ValueError, AttributeError):  # unreadable, cut short or not a record: not current
            return False

    def written_files(self, stage, since_ns):
        """{path below the data folder: size} of the files the stage wrote since
        ``since_ns``: everything in its ``writes`` folders, and the files beside a
        declared file (a stage lists one of its ROOT files and writes its siblings)."""
        found = set()
        for path in stage.paths("writes", self.data_dir):
            if path.is_dir():
                found.update(_visible_files(path))
            elif path.parent.is_dir():
                found.update(_visible_files(path.parent, recursive=False))
        data = self.data_dir.resolve()
        return {str(f.resolve().relative_to(data)): f.stat().st_size for f in sorted(found)
                if f.stat().st_mtime_ns >= since_ns and data in f.resolve().parents}

    def run(self):
        """Run everything; returns the list of StageResult in stage order."""
        results, running = {}, {}
        for stage in self.stages:  # else found only once the stage has run, when its record cannot be written
            if self._stamp(stage).is_dir():
                raise PipelineError(f"{self._stamp(stage)} is a folder where the run keeps its record of "
                                    f"{stage.id}; remove it and run again")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # kernels inherit it: no C++ log lines on the terminal
        os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would print as text blocks in the book's pages
        # Parallel kernels share the cores: OpenMP threads (scikit-learn's trees) that outnumber them spin and
        # slow each other (a 100-tree raw-cell GBDT: 26 s with one thread, 42 s with two, beside two busy cores).
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // self.jobs)))
        with contextlib.ExitStack() as stack:
            for folder in dict.fromkeys((self.data_dir, self.book_dir)):
                stack.enter_context(_folder_lock(folder))
            # papermill changes the process's folder for each notebook; from threads the restores can interleave
            stack.callback(os.chdir, os.getcwd())
            if self.scheduler:
                from .dask_workers import connect

                pool = stack.enter_context(connect(self.scheduler, n_workers=self.jobs)).get_executor(pure=False)
            else:
                pool = stack.enter_context(ThreadPoolExecutor(max_workers=self.jobs))
            try:
                self._schedule(pool, results, running)
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through the command line
                self._stopping.set()  # a stage whose thread starts from now on returns at once
                for future in running.values():
                    future.cancel()  # queued stages never start (a running one cannot be cancelled)
                self.log(f"[stopping] interrupted: stopping {', '.join(sorted(running)) or 'nothing running'}")
                self._stop_kernels(running)
                raise
        ordered = [results[s.id] for s in self.stages]
        for stage, result in zip(self.stages, ordered):
            if result.status == "skipped":  # a stage that ran has its record already
                result.record = read_records(self.output_notebook(stage))
                result.claims = read_claims(self.output_notebook(stage))
        return ordered

    def _schedule(self, pool, results, running):
        said_at = time.monotonic()
        while len(results) < len(self.stages):
            for stage in self.stages:
                if stage.id in results or stage.id in running:
                    continue
                deps = self.deps[stage.id]
                bad = [d for d in deps if d in results and results[d].status in ("failed", "blocked")]
                if bad:
                    results[stage.id] = StageResult(stage.id, "blocked", message=f"needs {bad[0]}, which did not finish")
                    self.log(f"[blocked] {self._ended()} {stage.id}: needs {bad[0]}, which did not finish")
                elif all(d in results for d in deps):
                    running[stage.id] = pool.submit(self._run_stage, stage)
            if not running:
                continue
            # with a timeout: the main thread runs signal handlers (Ctrl-C) only when it wakes,
            # and a stage may run for hours
            finished, _ = wait(running.values(), timeout=0.5, return_when=FIRST_COMPLETED)
            if time.monotonic() - said_at > PROGRESS_EVERY_S:
                said_at = time.monotonic()
                for sid in sorted(running):
                    if sid in self._cells or self.scheduler:  # started (a queued one is not working)
                        self.log(f"[working] {sid}: {self._progress(sid)}")
            for sid, future in list(running.items()):
                if future in finished:
                    results[sid] = future.result()
                    del running[sid]

    def _progress(self, stage_id):
        if stage_id not in self._cells:  # its kernel is driven by a Dask worker
            return "on a Dask worker"
        cell, cells, since = self._cells[stage_id]
        minutes, seconds = divmod(int(time.monotonic() - since), 60)
        return f"cell {cell + 1} of {cells}, {minutes} min {seconds:02d} s so far"

    def _stop_kernels(self, running, grace_s=10.0):
        """Interrupt the running notebooks' kernels (their cells get KeyboardInterrupt, so
        their atomic writes clean up and papermill shuts each kernel down), kill any still
        alive after ``grace_s``, and remove what a killed kernel left half-written in its
        stage's output folders."""
        import signal

        import psutil

        from .io import remove_stale_partials_under

        def kernels():
            return [p for p in psutil.Process().children(recursive=True) if "ipykernel_launcher" in _cmdline(p)]

        for kernel in kernels():
            with contextlib.suppress(psutil.Error):
                kernel.send_signal(signal.SIGINT)
        wait([f for f in running.values() if not f.cancelled()], timeout=grace_s)  # the stages' threads end
        left = kernels()  # those that did not stop, and one a stage started in the meantime
        for kernel in left:
            with contextlib.suppress(psutil.Error):
                kernel.kill()
        psutil.wait_procs(left, timeout=grace_s)
        for stage in self.stages:
            if stage.id not in running:
                continue
            for path in stage.paths("writes", self.data_dir):
                remove_stale_partials_under(path if path.is_dir() else path.parent)

    def _run_stage(self, stage):
        # a file's time stamp comes from the kernel's coarser clock, up to a tick before this one
        start, started_ns = time.perf_counter(), time.time_ns() - 1_000_000_000
        if self._stopping.is_set():  # queued before Ctrl-C, on a thread that started after it
            return StageResult(stage.id, "blocked", message="the run was interrupted before it started")
        params = self.parameters[stage.id]
        digest = stage_hash(stage, params, self.data_dir, self.root)
        if self.is_current(stage, digest):
            self.log(f"[skipped] {self._ended()} {stage.id}: unchanged")
            return StageResult(stage.id, "skipped")
        self.log(f"[running] {stage.id} ({self._shown(stage.notebook)})")
        self._stamp(stage).unlink(missing_ok=True)  # from here on, until all outputs exist, nothing is current
        for attempt in (1, 2):
            try:
                self._execute(stage, params)
                break
            except Exception as error:  # noqa: BLE001 - reported, never swallowed
                if self._stopping.is_set():
                    return StageResult(stage.id, "failed", time.perf_counter() - start, "interrupted")
                if attempt == 1 and any(m in str(error) for m in TRANSIENT_KERNEL_ERRORS):
                    self.log(f"[retry]   {stage.id}: kernel did not start ({str(error)[:80]}), trying once more")
                    continue
                message = self._describe_failure(stage, error)
                self.log(f"[failed]  {self._ended()} {stage.id}: {message}")
                return StageResult(stage.id, "failed", time.perf_counter() - start, message)
        missing = [p for p in stage.paths("writes", self.data_dir) if not p.exists()]
        if missing:
            message = f"{self._shown(stage.notebook)} ran but did not write {missing[0]}"
            self.log(f"[failed]  {self._ended()} {stage.id}: {message}")
            return StageResult(stage.id, "failed", time.perf_counter() - start, message)
        seconds = time.perf_counter() - start
        # The stamp holds the hash of what the stage read, taken before it ran; if that changed while it ran
        # (a file replaced, the library edited), its result is of neither version: no stamp, it runs again.
        if stage_hash(stage, params, self.data_dir, self.root) != digest:
            self.log(f"[changed] {stage.id}: its inputs changed while it ran; it is not current and runs next time")
        else:
            with atomic_output(self._stamp(stage)) as tmp:  # last, whole or not at all
                tmp.write_text(json.dumps({"hash": digest, "parameters": params,
                                           "outputs": self.written_files(stage, started_ns)}, default=str))
        record = read_records(self.output_notebook(stage))
        peak = record.get("peak_memory_gib")
        self.log(f"[done]    {self._ended()} {stage.id} in {seconds:.1f} s" + (f", peak memory {peak:.2f} GiB" if peak else ""))
        return StageResult(stage.id, "ran", seconds, record=record, claims=read_claims(self.output_notebook(stage)))

    def _execute(self, stage, params):
        import nbformat
        import papermill

        target = self.output_notebook(stage)
        failed_copy = self.state_dir / "failed" / target.name
        notebook = nbformat.read(str(stage.notebook), as_version=4)
        # the kernel's peak memory, read by the kernel itself when the last cell is done (hidden in the book)
        notebook.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL, id="peak-memory",
                                                        metadata={"tags": ["remove-cell"]}))
        cells, since = len(notebook.cells) + bool(params), time.monotonic()  # papermill adds the parameters

        def on_cell(cell, cell_index):
            self._cells[stage.id] = (cell_index, cells, since)

        with atomic_output(target) as tmp, open(self.kernel_log(stage), "w") as log:
            try:
                papermill.execute_notebook(notebook, str(tmp), parameters=params, cwd=str(self.root),
                                           progress_bar=False, kernel_name="python3", on_cell_execute=on_cell,
                                           # TensorFlow's, oneDNN's and the kernel's own lines go to the log
                                           kernel_manager_class=_kernel_manager_writing_to(log),
                                           extra_arguments=["--IPKernelApp.log_level=ERROR"])
            except Exception:
                if tmp.exists():  # keep the executed copy with the error for the user to read
                    failed_copy.parent.mkdir(parents=True, exist_ok=True)
                    tmp.replace(failed_copy)
                raise
            finish_page(tmp, stage, {f"{self.root}/": "", str(self.data_dir): f"data/{self.label}",
                                      str(self.book_dir): "book"}, self.profile, self.scale)
        if failed_copy.exists():
            failed_copy.unlink()

    def kernel_log(self, stage):
        """What the stage's kernel printed outside its cells (TensorFlow's start-up lines),
        kept beside its executed notebook instead of on the terminal."""
        path = self.output_notebook(stage).with_suffix(".log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _shown(self, path):
        return path.relative_to(self.root) if self.root in path.resolve().parents else path

    def _describe_failure(self, stage, error):
        where = self._shown(stage.notebook)
        cell = getattr(error, "cell_index", None)
        if cell is not None:
            failed_copy = self.state_dir / "failed" / self.output_notebook(stage).name
            return (f"{where}, cell {cell} (execution count {getattr(error, 'exec_count', '?')}): "
                    f"{getattr(error, 'ename', type(error).__name__)}: {getattr(error, 'evalue', error)} "
                    f"(executed copy: {failed_copy})")
        return f"{where}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _kernel_manager_writing_to(log):
    """A kernel manager whose kernels print into ``log`` (an open file), not the terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            await super()._async_launch_kernel(kernel_cmd, **{**kw, "stdout": log, "stderr": log})

    return LoggedKernelManager


@contextlib.contextmanager
def _folder_lock(folder):
    """Hold ``folder`` for this run (``filelock``), or refuse in one sentence naming the
    run that holds it: two runs writing one folder would stamp each other's results."""
    import filelock

    lock, owner = folder / ".pipeline.lock", folder / ".pipeline.lock.owner"
    try:
        held = filelock.FileLock(lock, timeout=0).acquire()
    except filelock.Timeout:
        try:
            holder = json.loads(owner.read_text())
            by = f"run {holder['pid']} (`{holder['command']}`, started {holder['started']})"
        except (OSError, ValueError, KeyError):
            by = "another run"
        raise PipelineError(f"{folder} is in use by {by}; wait for it to end or stop it, then run again") from None
    with held:
        owner.write_text(json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv),
                                     "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        try:
            yield
        finally:
            owner.unlink(missing_ok=True)


def _cmdline(process):
    try:
        return " ".join(process.cmdline())
    except Exception:  # noqa: BLE001 - a process that ended or is not ours
        return ""


def results_table(results):
    """One row per stage: status, seconds, the claims of its page that did not hold and
    every value its notebook recorded."""
    import pandas as pd

    rows = [{"stage": r.stage, "status": r.status, "seconds": round(r.seconds, 1),
             "claims_not_held": "; ".join(r.claims_not_held), **r.record} for r in results]
    return pd.DataFrame(rows).set_index("stage")


def summary_table(results):
    width = max([40] + [len(r.stage) + 1 for r in results])
    lines = [f"{'stage':{width}s} {'status':8s} {'time':>8s}  recorded"]
    for r in results:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.record.items())
        lines.append(f"{r.stage:{width}s} {r.status:8s} {r.seconds:7.1f}s  {shown}".rstrip())
    not_held = [(r.stage, name) for r in results for name in r.claims_not_held]
    if not_held:
        lines.append(f"claims that did not hold on this run ({len(not_held)}; each page says what was measured instead):")
        lines += [f"  {stage}: {name}" for stage, name in not_held]
    return "\n".join(lines)
