"""Sweeps: a stage run once per combination of a grid of parameter values, each
variant into folders of its own.

Contents: ``sweep``.
"""

import itertools

from ..errors import ParameterError
from ..stage_list import Stage
from .parameters import notebook_parameters


def sweep(stages, grid):
    """Expand every stage that declares all parameters of ``grid`` ({name: [values]}) into
    one variant per combination, e.g. a grid of learning rates and widths. A variant's
    id and page get the combination as suffix and what it writes goes to folders of its
    own (its ``writes`` and the parameters pointing into them), so the variants run side by
    side on a cluster. Stages that read a swept stage's output are left out: they would
    read none of the variants."""
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
