"""Every result table of a smoke run, recorded, and a later run compared with the record:
a change that should not move a number (a refactor, a moved function) is checked to
move none.

``read_tables`` reads every CSV table a run wrote into its data folder; ``platform``
names what sets the last digits (the versions of the numerical libraries and the CPU's
vector instructions); ``differences`` lists what moved. On the platform that recorded,
every number must come back to the last digit (a seeded run repeats itself exactly
there). On another platform a network trains through other round-off, so a measured
number may move by two of its own errors, an error by half of itself, and any other
number by 1e-3 of itself: run with AVX2 kernels instead of AVX-512 (NPY_DISABLE_CPU_FEATURES,
OPENBLAS_CORETYPE=Haswell, ONEDNN_MAX_CPU_ISA=AVX2) the smoke tables moved by at most 0.7
of an error, an error by 13 %, a number without an error by 6e-7. A deliberate change of
a table is recorded again with ``pytest tests/test_notebooks.py --record-smoke-numbers``.

Contents: ``RECORD``, ``platform``, ``read_tables``, ``write_record``, ``read_record``,
``differences``.
"""

import json
import math
import platform as python_platform
import re
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

RECORD = Path(__file__).resolve().parent / "data" / "smoke_numbers.json"
#: The libraries whose arithmetic reaches a table.
NUMERICAL_LIBRARIES = ("numpy", "scipy", "pandas", "tensorflow-cpu", "keras", "xgboost", "scikit-learn", "iminuit")
#: Columns whose error is not named after them.
ERROR_OF = {"value": "test error", "pull mean": "error of the mean", "pull width": "error of the width",
            "mean fitted efficiency": "error of the mean efficiency"}
WITH_ERROR = re.compile(r"^\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*±\s*([\d.]+(?:e[-+]?\d+)?)\s*$")


def platform():
    """What sets a run's last digits: Python, the numerical libraries and the CPU's vector
    instructions as numpy found them."""
    try:  # numpy.show_runtime() reads the same table, but only prints it
        from numpy._core._multiarray_umath import __cpu_features__
        features = sorted(name for name, found in __cpu_features__.items() if found)
    except ImportError:  # another numpy: its version already tells the platforms apart
        features = []
    return {"python": python_platform.python_version(), "machine": python_platform.machine(),
            **{name: version(name) for name in NUMERICAL_LIBRARIES}, "cpu features": features}


def read_tables(data_dir):
    """{path inside ``data_dir``: {"columns": [...], "rows": [[...], ...]}} for every CSV
    table there; a missing value is None."""
    tables = {}
    for path in sorted(Path(data_dir).rglob("*.csv")):
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
        rows = [[None if isinstance(v, float) and math.isnan(v) else (v.item() if isinstance(v, np.generic) else v)
                 for v in row] for row in table.itertuples(index=False)]
        tables[path.relative_to(data_dir).as_posix()] = {"columns": list(table.columns), "rows": rows}
    return tables


def write_record(tables):
    RECORD.write_text(json.dumps({"platform": platform(), "tables": tables}, indent=1, ensure_ascii=False) + "\n")


def read_record():
    return json.loads(RECORD.read_text())


def _error_column(column, columns):
    for name in (ERROR_OF.get(column), f"{column} error", f"error {column}"):
        if name in columns:
            return name
    return None


def _moved(recorded, current, error, is_error):
    """Whether a number moved beyond what another platform's round-off explains."""
    if is_error:
        return abs(current - recorded) > 0.5 * abs(recorded)
    if error is not None and error > 0:
        return abs(current - recorded) > 2 * error
    return abs(current - recorded) > 1e-3 * max(abs(recorded), 1e-9)


def _cell_differs(recorded, current, error, is_error, same_platform):
    if same_platform or recorded is None or current is None or isinstance(recorded, bool):
        return recorded != current
    if isinstance(recorded, str):
        pair_recorded, pair_current = WITH_ERROR.match(recorded), WITH_ERROR.match(str(current))
        if pair_recorded and pair_current:  # "value ± error" written by a page
            value, error = map(float, pair_recorded.groups())
            return _moved(value, float(pair_current.group(1)), error, False)
        return recorded != current
    return _moved(float(recorded), float(current), error, is_error)


def differences(record, tables):
    """What moved between a recorded run and ``tables`` (``read_tables``), one line each."""
    same_platform = record["platform"] == platform()
    recorded_tables = record["tables"]
    found = [f"{name}: not written by this run" for name in recorded_tables if name not in tables]
    found += [f"{name}: a table the record does not have" for name in tables if name not in recorded_tables]
    for name in sorted(set(recorded_tables) & set(tables)):
        before, after = recorded_tables[name], tables[name]
        if before["columns"] != after["columns"] or len(before["rows"]) != len(after["rows"]):
            found.append(f"{name}: columns or rows changed ({before['columns']} x {len(before['rows'])} rows, now "
                         f"{after['columns']} x {len(after['rows'])} rows)")
            continue
        columns = before["columns"]
        errors = {c: _error_column(c, columns) for c in columns}
        error_columns = {e for e in errors.values() if e}
        for i, (row_before, row_after) in enumerate(zip(before["rows"], after["rows"])):
            for j, column in enumerate(columns):
                error = errors[column]
                error_value = row_before[columns.index(error)] if error else None
                if _cell_differs(row_before[j], row_after[j], error_value, column in error_columns, same_platform):
                    found.append(f"{name}, row {i}, {column}: {row_before[j]!r} recorded, {row_after[j]!r} now")
    return found
