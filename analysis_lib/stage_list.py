"""The stage list, ``stages.yml``: what each stage runs, reads and writes, and the
graph those make. It knows nothing of how stages run (``pipeline`` does that), so the
readers can name the stage that makes a missing file without importing the runner.

``{data}`` in a stage's paths and parameters stands for the profile's data folder, and
``{profile}`` in a parameter for the profile's name (the results page shows what its
profile ran). A stage with a
``matrix`` (one parameter and its values, e.g. ``{task: [scalar1, axion1]}``) becomes one
stage per value, ``id/value``; its ``profiles`` may name the values a profile runs where that
profile runs fewer than all (``{book: [axion1]}``): the book then gives the others a page
saying which profile makes them (``in_profile``). A stage depends on every stage whose ``writes`` contain
one of its ``reads`` or lie inside one (a folder it reads).

A parameter's role is in its name (``is_output_parameter``): ``output_dir``, a name
ending in ``_output_dir`` and ``output`` (one file) say where a stage writes; every other
parameter is something it reads or a setting. A stage's ``writes`` are its output
parameters' values, given once under ``parameters: all``; a stage that writes named
files into its output folder (a simulation, one file per particle) lists them in
``writes``, each inside one of those folders.

The list is checked against ``STAGE_LIST_SCHEMA`` (JSON Schema, with ``jsonschema``)
before anything else, so a misspelt key or a value of the wrong type is one sentence
naming the stage and the key, never a silently dropped dependency; then every read
below ``{data}`` must be written by some stage, and no two stages may write the same
file or folder, or one inside the other's.

Contents: ``PROFILES``, ``nested``, ``check_profile``, ``STAGE_LIST_SCHEMA``, ``is_output_parameter``, ``Stage``,
``load_stages``,
``headline_files``, ``dependencies``,
``in_profile``, ``with_stage_list``, ``select``, ``book_page``, ``default_root``, ``stage_writing``, ``run_command``,
``profile_parameters``.
"""

import shlex
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from .errors import AnalysisError, ParameterError, PipelineError
from .repository import PROJECT_DATA_DIR, REPOSITORY_DIR

PROFILES = ("smoke", "book", "full")

_PATHS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_VALUES = {"type": "object", "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}}
#: What ``stages.yml`` may hold: a list of stages, each with exactly these keys.
STAGE_LIST_SCHEMA = {
    "type": "object",
    "properties": {"stages": {"type": "array", "items": {"$ref": "#/$defs/stage"}}},
    "required": ["stages"],
    "additionalProperties": False,
    "$defs": {"stage": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*$"},
            "notebook": {"type": "string", "pattern": "\\.ipynb$"},
            "reads": _PATHS, "writes": _PATHS, "headlines": _PATHS,
            # one parameter and the list of its values
            "matrix": {"type": "object", "minProperties": 1, "maxProperties": 1,
                       "additionalProperties": {"type": "array", "minItems": 1,
                                                "items": {"type": ["string", "number", "boolean"]}}},
            "parameters": {"type": "object", "propertyNames": {"enum": ["all", *PROFILES]},
                           "additionalProperties": _VALUES},
            # the matrix values a profile runs, where it runs fewer than all
            "profiles": {"type": "object", "propertyNames": {"enum": list(PROFILES)},
                         "additionalProperties": {"type": "array", "minItems": 1,
                                                  "items": {"type": ["string", "number", "boolean"]}}},
        },
        "required": ["id", "notebook"],
        "additionalProperties": False,
    }},
}


def is_output_parameter(name):
    """Whether a notebook parameter names where its stage writes: ``output_dir``, a name
    ending in ``_output_dir``, or ``output`` (a file). Its role is in its name, so no rule
    has to guess it from the value."""
    return name == "output" or name == "output_dir" or name.endswith("_output_dir")


def nested(a, b):
    """Whether paths ``a`` and ``b`` are one file or folder, or one lies inside the other: a
    folder read holds what is written into it, and a file read lies in a folder written."""
    return a == b or a in b.parents or b in a.parents


def check_profile(profile):
    """Refuse a profile name that ``stages.yml`` cannot have."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


@dataclass
class Stage:
    """One notebook of the book and how to run it."""
    id: str
    notebook: Path
    parameters: dict = field(default_factory=dict)  # profile or "all" -> {name: value}
    reads: list = field(default_factory=list)
    writes: list = field(default_factory=list)
    variant: str = ""  # the matrix value, for stages expanded from a matrix
    matrix_parameter: str = ""  # the parameter the matrix sets (its value is the variant's, never an override's)
    headlines: list = field(default_factory=list)  # the tables of its results the results page shows
    profiles: tuple = PROFILES  # the profiles that run it

    @property
    def study(self):
        return self.id.split("/")[0]

    def resolved_parameters(self, profile, data_dir):
        values = {**self.parameters.get("all", {}), **self.parameters.get(profile, {})}
        return {k: _substitute(v, data_dir, profile) for k, v in values.items()}

    def paths(self, which, data_dir):
        return [Path(_substitute(p, data_dir)) for p in getattr(self, which)]


def _substitute(value, data_dir, profile=None):
    if isinstance(value, str):
        value = value.replace("{data}", str(data_dir))
        return value.replace("{profile}", profile) if profile else value
    if isinstance(value, list):
        return [_substitute(v, data_dir, profile) for v in value]
    return value


def book_page(stage, root):
    """Path of a stage's executed copy below the book folder: its path below
    notebooks/, with ``_<variant>`` added for a matrix stage."""
    notebooks = Path(root).resolve() / "notebooks"
    relative = (stage.notebook.relative_to(notebooks) if notebooks in stage.notebook.parents
                else Path(stage.notebook.name))
    if stage.variant:
        relative = relative.with_name(f"{relative.stem}_{stage.variant}{relative.suffix}")
    return relative


def default_root():
    """The repository root: the folder holding stages.yml next to the library, else the cwd."""
    return REPOSITORY_DIR


def load_stages(path):
    """Read and check the stage list (unique ids, known profiles, existing notebooks)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise PipelineError(f"no stage list at {path}")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise PipelineError(f"{path} is not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None
    _check_schema(spec, path)
    stages, seen = [], set()
    for entry in (e for raw in spec.get("stages", []) for e in _expand_matrix(raw)):
        parameters = entry.get("parameters", {}) or {}
        stage = Stage(id=entry["id"], notebook=path.parent / entry["notebook"], parameters=parameters,
                      reads=entry.get("reads", []) or [], writes=_writes(entry, parameters, path),
                      variant=entry.get("variant", ""), headlines=entry.get("headlines", []) or [],
                      matrix_parameter=entry.get("matrix_parameter", ""), profiles=entry.get("in", PROFILES))
        if stage.id in seen:
            raise PipelineError(f"stage {stage.id!r} appears twice in {path}")
        if not stage.notebook.is_file():
            raise PipelineError(f"stage {stage.id!r} names a missing notebook {stage.notebook}")
        seen.add(stage.id)
        stages.append(stage)
    every_headline = [h for stage in stages for h in stage.headlines]
    for stage in stages:
        if "{headlines}" in stage.reads:  # the results page: every stage's headline tables
            stage.reads = [r for r in stage.reads if r != "{headlines}"] + every_headline
    _check_reads_are_written(stages, path)
    _check_outputs_are_distinct(stages, path)
    _ordered(stages, dependencies(stages))  # refuses cycles early
    for profile in PROFILES:  # a stage never needs what its profile does not run
        in_profile(stages, profile, path.name)
    return stages


def in_profile(stages, profile, where="stages.yml"):
    """The stages ``profile`` runs (a matrix stage's ``profiles`` may leave values out), each
    without the headline tables of the stages it leaves out among its reads (the results page
    shows what the profile made). A stage that reads anything else of a stage left out is refused."""
    kept = [s for s in stages if profile in s.profiles]
    left_out = [s for s in stages if profile not in s.profiles]
    if not left_out:
        return kept
    headlines = {h for s in left_out for h in s.headlines}
    written = [(s.id, w) for s in left_out for w in s.paths("writes", Path("{data}"))]
    shown = []
    for stage in kept:
        reads = [r for r in stage.reads if r not in headlines]
        for read in (Path(r) for r in reads):
            writer = next((sid for sid, w in written if nested(read, w)), None)
            if writer is not None:
                raise PipelineError(f"{where}, stage {stage.id!r}: reads {read}, which {writer!r} writes, but the "
                                    f"{profile} profile does not run {writer!r}")
        shown.append(replace(stage, reads=reads))
    return shown


def _writes(entry, parameters, path):
    """A stage's outputs: the values of its output parameters (``is_output_parameter``),
    which must not change with the profile; or the files it lists in ``writes``, each
    inside one of them (a notebook with no output parameter has only its ``writes``)."""
    for profile in PROFILES:
        moved = sorted(name for name in parameters.get(profile, {}) if is_output_parameter(name))
        if moved:
            raise PipelineError(f"{path.name}, stage {entry['id']!r}: its output parameter {moved[0]!r} is set for "
                                f"the {profile} profile; give it once under 'all' (a profile's data folder is "
                                "{data})")
    folders = [v for k, v in parameters.get("all", {}).items() if is_output_parameter(k)]
    listed = entry.get("writes")
    if not listed or not folders:  # a notebook that names no output parameter: its writes say where
        return folders or list(listed or [])
    for written in listed:
        if not any(written == f or Path(f) in Path(written).parents for f in folders):
            raise PipelineError(f"{path.name}, stage {entry['id']!r}: writes {written}, which lies in none of its "
                                "output folders (parameters output_dir, *_output_dir or output)")
    return list(listed)


def _check_schema(spec, path):
    """One sentence for the first place where ``spec`` leaves ``STAGE_LIST_SCHEMA``."""
    import jsonschema  # a quarter second; readers import this module only to name a stage

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(STAGE_LIST_SCHEMA).iter_errors(spec))
    if error is None:
        return
    where = list(error.absolute_path)
    stages = spec.get("stages") if isinstance(spec, dict) else None
    entry = stages[where[1]] if len(where) > 1 and isinstance(stages, list) else None
    stage = (f"stage {entry['id']!r}" if isinstance(entry, dict) and isinstance(entry.get("id"), str)
             else f"stage {where[1] + 1} of the list" if entry is not None
             else f"key {where[0]!r}" if where else "the top level")
    key = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in where[2:]).lstrip(".")
    instance = error.instance
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        unknown = sorted(set(instance) - set(known))[0]
        said = f"unknown key {unknown!r}" + (f" (known keys: {', '.join(known)})" if known else "")
    elif error.validator == "enum" and key.endswith("parameters"):  # a profile's name, checked as a property name
        said = f"parameters for unknown profile {instance!r} (profiles: all, {', '.join(PROFILES)})"
    elif error.validator == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, str) else " or ".join(expected)
        kind = {"array": "a list", "object": "a mapping"}.get(expected, f"a {expected}")
        said = f"{key or 'it'} must be {kind}, got {instance!r}"
    elif error.validator in ("minProperties", "maxProperties") and key.endswith("matrix"):
        said = f"a matrix takes exactly one parameter and its list of values, got {instance!r}"
    else:
        said = f"{key or 'its entry'}: {error.message}"
    raise PipelineError(f"{path.name}, {stage}: {said}")


def _check_outputs_are_distinct(stages, path):
    """Two stages never write the same file or folder, nor one inside the other's: the
    second would replace or mix into the first's output, and the hashes of both would lie."""
    written = [(stage.id, w) for stage in stages for w in stage.paths("writes", Path("{data}"))]
    for i, (first, a) in enumerate(written):
        for second, b in written[i + 1:]:
            if first != second and nested(a, b):
                shared = f"{a}" if a == b else f"{a} and {b}, one inside the other"
                raise PipelineError(f"{path.name}: stages {first!r} and {second!r} both write {shared}; give each "
                                    "stage an output folder of its own")


def _check_reads_are_written(stages, path):
    """A read below ``{data}`` must be some stage's output (else it can only fail inside
    its notebook); reads elsewhere are the user's or the repository's own files."""
    written = [w for stage in stages for w in stage.paths("writes", Path("{data}"))]
    for stage in stages:
        for read in stage.paths("reads", Path("{data}")):
            if read.parts[0] == "{data}" and not any(nested(read, w) for w in written):
                raise PipelineError(f"{path.name}, stage {stage.id!r}: reads {read}, which no stage writes")


def headline_files(stages, data_dir):
    """{stage id: [its headline tables]} of the stages that declare ``headlines`` in the
    stage list, with ``{data}`` made ``data_dir``: where the results page finds them."""
    return {stage.id: stage.paths("headlines", data_dir) for stage in stages if stage.headlines}


def _expand_matrix(entry):
    """One stage entry per value of its matrix parameter (or the entry itself)."""
    matrix, profiles = entry.get("matrix"), entry.get("profiles") or {}
    if not matrix:
        if profiles:
            raise PipelineError(f"stage {entry.get('id')!r}: 'profiles' names the matrix values a profile runs, "
                                "and the stage has no matrix")
        return [entry]
    (name, values), = matrix.items()
    for profile, chosen in profiles.items():
        unknown = [v for v in chosen if v not in values]
        if unknown:
            raise PipelineError(f"stage {entry.get('id')!r}: the {profile} profile runs {unknown[0]!r}, which is not "
                                f"one of its matrix values {values}")

    def fill(value, v):
        if isinstance(value, str):
            return value.replace("{" + name + "}", str(v))
        if isinstance(value, list):
            return [fill(x, v) for x in value]
        if isinstance(value, dict):
            return {k: fill(x, v) for k, x in value.items()}
        return value

    expanded = []
    for v in values:
        if not str(v).strip() or "/" in str(v) or str(v).startswith("."):  # it names a page and a folder
            raise PipelineError(f"stage {entry.get('id')!r}: matrix value {v!r} must name a page: not empty, "
                                "without '/', not starting with '.'")
        parameters = fill(entry.get("parameters", {}) or {}, v)
        parameters["all"] = {**parameters.get("all", {}), name: v}
        expanded.append({**entry, "id": f"{entry['id']}/{v}", "variant": str(v), "matrix_parameter": name,
                         "parameters": parameters, "in": tuple(p for p in PROFILES if v in profiles.get(p, values)),
                         "reads": fill(entry.get("reads", []), v), "writes": fill(entry.get("writes", []), v),
                         "headlines": fill(entry.get("headlines", []), v)})
    return expanded


def dependencies(stages, data_dir=Path("{data}")):
    """Stage id -> ids of the stages that write what it reads."""
    deps = {}
    for stage in stages:
        reads = stage.paths("reads", data_dir)
        # a read depends on what is written at, inside or below it (a folder read holds what others write into it)
        deps[stage.id] = {other.id for other in stages if other is not stage and any(
            nested(r, w) for r in reads for w in other.paths("writes", data_dir))}
    return deps


def _ordered(stages, deps):
    order, done = [], set()
    pending = {s.id: s for s in stages}
    while pending:
        ready = [s for sid, s in pending.items() if deps[sid] <= done]
        if not ready:
            raise PipelineError(f"the stages {sorted(pending)} depend on each other in a cycle")
        for stage in ready:
            order.append(stage)
            done.add(stage.id)
            del pending[stage.id]
    return order


def with_stage_list(stages, root):
    """``stages`` and every stage of ``root``'s ``stages.yml`` (where it reads): a run selected
    with ``--only`` still knows every matrix value and every output of the whole list."""
    listed = list(stages)
    try:
        listed += load_stages(Path(root) / "stages.yml")
    except (AnalysisError, OSError):  # a stage list of the caller's own, or none
        pass
    return listed


def select(stages, only, profile=None):
    """The stages matching ``only`` (study or study/stage ids) and everything upstream of them,
    of those ``profile`` runs (``in_profile``) where one is given."""
    listed = stages
    if profile is not None:
        check_profile(profile)
        stages = in_profile(stages, profile)
    if not only:
        return list(stages)
    deps = dependencies(stages)
    wanted = set()

    def matching(pattern, among):
        return {s.id for s in among if s.id == pattern or s.study == pattern or s.id.startswith(pattern + "/")}

    for pattern in only:
        matches = matching(pattern, stages)
        elsewhere = [s for s in listed if s.id in matching(pattern, listed)]
        if not matches and elsewhere:
            raise ParameterError(f"the {profile} profile does not run {pattern!r} (stages.yml runs it in the "
                                 f"{' and '.join(p for p in PROFILES if p in elsewhere[0].profiles)} profiles); "
                                 "choose one of those with --profile")
        if not matches:
            raise ParameterError(f"no stage or study called {pattern!r}; known studies: "
                                 f"{', '.join(sorted({s.study for s in stages}))}")
        wanted |= matches
    frontier = set(wanted)
    while frontier:
        frontier = set().union(*(deps[s] for s in frontier)) - wanted
        wanted |= frontier
    return [s for s in stages if s.id in wanted]


def stage_writing(path):
    """``(profile, stage id)`` of the stage that writes ``path`` when the pipeline runs a
    profile into the project's own data folder (``data/<profile>/...``), else None. The
    stage whose ``writes`` holds the path most closely wins; else one that writes a file
    beside it."""
    path = Path(path).resolve()
    try:
        profile = path.relative_to(PROJECT_DATA_DIR).parts[0]
    except (ValueError, IndexError):  # not below the project's data folder
        return None
    stage_file = PROJECT_DATA_DIR.parent / "stages.yml"
    if profile not in PROFILES or not stage_file.is_file():
        return None
    written = [(w, stage.id) for stage in load_stages(stage_file) for w in stage.paths("writes",
                                                                                       PROJECT_DATA_DIR / profile)]
    writers = ([(len(w.parts), sid) for w, sid in written if w == path or w in path.parents]
               # a stage that lists some of its files writes their siblings too (the photon-ID samples)
               or [(len(w.parts), sid) for w, sid in written if w.suffix and w.parent == path.parent])
    return (profile, max(writers)[1]) if writers else None


def run_command(profile, only, python=None):
    """The command that runs stage (or study) ``only`` of ``profile`` and what it needs,
    as typed in a shell: by default this Python by its full path, so it works from any
    folder; a book page gives ``python=".venv/bin/python"``, as typed in the repository."""
    return f"{shlex.quote(python or sys.executable)} -m analysis_lib run --profile {profile} --only {only}"


def profile_parameters(stage_id, profile):
    """The parameter values ``stages.yml`` gives stage ``stage_id`` in ``profile`` (with
    ``{data}`` unresolved): a page made by one profile can say what another one runs."""
    stages = {s.id: s for s in load_stages(REPOSITORY_DIR / "stages.yml")}
    if stage_id not in stages:
        raise ParameterError(f"no stage {stage_id!r} in stages.yml")
    return stages[stage_id].resolved_parameters(profile, "{data}")
