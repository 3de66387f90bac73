"""The notebooks' parameters, checked before anything runs: names and types against
each notebook's ``parameters`` cell, values against ``analysis_lib.ranges``. An
override never redirects where a stage writes, and an override of what a stage reads
must exist. ``scale_profile`` runs a profile at reduced size.

Contents: ``parse_value``, ``parse_overrides``, ``notebook_parameters``,
``scale_profile``, ``check_parameters``.
"""

import ast
import json
from pathlib import Path

from ..errors import ParameterError
from ..ranges import check_range
from ..stage_list import check_profile, default_root, is_output_parameter, nested, with_stage_list


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
    import papermill  # nbclient and jupyter's machinery: a second, for a run only

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


def _names_input(value, read):
    """Whether a parameter's value is one of a stage's reads, inside one or holds one."""
    if not isinstance(value, str):
        return False
    value = Path(value)
    return any(nested(value, r) for r in read)


def _is_path(value):
    """Whether a stage's own value of a parameter is a path (stages.yml's ``{data}/...``,
    made absolute): an override of it is a path too."""
    return isinstance(value, str) and Path(value).is_absolute()


def _check_exists(name, value, stage, root):
    if not isinstance(value, str) or not (Path(root or ".") / value).exists():  # an absolute value stays itself
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


def _check_matrix_values(name, value, matrices, stage):
    """A list named for a matrix parameter in the plural (``original_wiring_tasks`` for
    ``task``) holds only values that matrix runs."""
    for matrix, values in matrices.items():
        if (name == f"{matrix}s" or name.endswith(f"_{matrix}s")) and isinstance(value, list):
            unknown = [v for v in value if str(v) not in values]
            if unknown:
                raise ParameterError(f"parameter {name!r} of {stage.id} names {unknown[0]!r}, which is no {matrix} "
                                     f"of the stage list; choose from {', '.join(values)}")


def check_parameters(stages, profile, overrides, data_dir, scale=1, root=None, listed=None):
    """Refuse unknown names and wrong types, in stages.yml and on the command line,
    before anything runs. Returns {stage id: parameters to pass}.

    An override never redirects where a stage writes: an output parameter
    (``stage_list.is_output_parameter``: ``output_dir``, ``*_output_dir``, ``output``) keeps
    its stages.yml value, and ``-p data_dir=/your/files`` makes the reading stages read your
    files (a simulation takes an ``output_dir``, so it still writes into the pipeline's own
    folder).
    An override of a path is taken from the working folder when relative (as ``--data-dir``)
    and must exist where the stage reads it, or nothing runs; a matrix parameter cannot be
    overridden, and a list named for one (``original_wiring_tasks``) holds only values the
    stage list runs (``listed``: the whole list, ``stage_list.with_stage_list`` by default).
    ``scale`` (below 1) shrinks the profile's sizes first (``scale_profile``)."""
    check_profile(profile)
    resolved, used, kept = {}, set(), set()
    matrices = {}  # matrix parameter -> the values its stages run, in the whole stage list (--only selects some)
    if listed is None:
        listed = with_stage_list(stages, root or default_root())
    for stage in listed:
        if stage.matrix_parameter and stage.variant not in matrices.get(stage.matrix_parameter, []):
            matrices.setdefault(stage.matrix_parameter, []).append(stage.variant)
    for stage in stages:
        defaults = notebook_parameters(stage.notebook)
        params = stage.resolved_parameters(profile, data_dir)
        if scale != 1:
            params.update(scale_profile(stage, profile, scale, defaults))
        for name in params:
            if name not in defaults:
                raise ParameterError(f"stages.yml gives {stage.id} a parameter {name!r} that "
                                     f"{stage.notebook.name} does not declare")
        read = stage.paths("reads", data_dir)
        for name, value in overrides.items():
            if name == stage.matrix_parameter:  # a page named for one value must show that value
                raise ParameterError(f"-p {name}={value!r}: {name} is the matrix of {stage.id.rsplit('/', 1)[0]} "
                                     f"(each of its stages runs one value); choose one with --only "
                                     f"{stage.id.rsplit('/', 1)[0]}/<{name}>, not -p")
            if name in params and is_output_parameter(name):
                kept.add(name)
            elif name in defaults:
                if _is_path(params.get(name)):  # a folder or file: relative to where you run, as --data-dir
                    if not isinstance(value, str) or not value.strip():
                        raise ParameterError(f"-p {name}={value!r}: name a file or folder ({stage.id} reads one)")
                    value = str((Path.cwd() / Path(value).expanduser()).resolve())
                if name in params and _names_input(params[name], read):
                    _check_exists(name, value, stage, root)
                params[name] = value
                used.add(name)
        for name, value in params.items():
            _check_matrix_values(name, value, matrices, stage)
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
