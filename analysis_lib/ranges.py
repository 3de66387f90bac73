"""The allowed values of the book's parameters, checked before any stage runs and by
``simulate`` before it starts: a count of events is a whole number of at least 1, a
fraction lies between 0 and 1, bin edges increase. (Their types are checked against
each notebook's defaults by ``pipeline.parameters``.)

Contents: ``NEGATIVE_CELLS``, ``PARAMETER_RANGES``, ``check_range``.
"""

import math

from .errors import ParameterError

#: What a reader does with cells below zero (noise-subtracted read-outs).
NEGATIVE_CELLS = ("keep", "clip", "refuse")


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
    "events_per_class": _whole(1), "n_iminuit": _whole(0), "patience": _whole(0), "event_index": _whole(0),
    "learning_rate": (_positive, "a finite number above 0"),
    "learning_rates": (lambda v: len(v) > 0 and all(len(p) == 2 and isinstance(p[0], int) and p[0] >= 1
                                                    and _positive(p[1])
                                                    for p in v), "a non-empty list of [epochs, rate] pairs"),
    "target_efficiency": (lambda v: 0 < v < 1, "a fraction between 0 and 1"),
    "conversion_fraction": (lambda v: 0 <= v <= 1, "a fraction from 0 to 1"),
    "energy_range_gev": (lambda v: len(v) == 2 and all(_positive(e) for e in v) and v[0] <= v[1],
                         "two finite energies 0 < low <= high"),
    "tolerance": (_positive, "a finite number above 0"), "huber_delta": (_positive, "a finite number above 0"),
    "negative_cells": (lambda v: v in NEGATIVE_CELLS, f"one of {', '.join(NEGATIVE_CELLS)}"),
    "mip_charge": (_positive, "a finite charge above 0"),
    "window_half_width_rad": (_positive, "a finite angle above 0"), "mass_gev": (_positive, "a finite mass above 0"),
    "ladder_events_per_class": _whole(10), "gbdt_iterations": _whole(1), "tree_iterations": _whole(1),
    "region_epochs": _whole(0),
    "spread_seeds": (lambda v: len(set(v)) == len(v) and all(isinstance(s, int) and 0 <= s < 2**63 for s in v),
                     "a list of distinct whole numbers from 0 to 2**63 - 1 (empty: no extra seeds)"),
    "training_events_per_class": (lambda v: len(v) > 0 and all(isinstance(n, int) and n >= 1 for n in v),
                                  "a non-empty list of whole numbers of at least 1"),
    "scaling_training_events_per_class": _whole(0),
    "spread_cells": (lambda v: all(isinstance(c, (int, float)) and math.isfinite(c) and 0 <= c <= 5 for c in v),
                     "a list of direction spreads from 0 to 5 middle cells (empty: none)"),
}
for _name in ("energies_gev", "scan_energies_gev", "masses_mev", "separation_mm"):
    PARAMETER_RANGES[_name] = (lambda v: len(v) > 0 and all(_positive(e) for e in v),
                               "a non-empty list of positive numbers")
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
