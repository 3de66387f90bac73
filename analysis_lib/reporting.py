"""A notebook's headline numbers, handed to the pipeline: ``record`` shows them in the
page and tags them with a MIME type of their own; ``read_records`` reads them back from
an executed notebook, so the pipeline gathers every stage's numbers into one table.
The pipeline also records each notebook's peak memory, from a last cell it appends.

Contents: ``RECORD_MIME``, ``record``, ``read_records``, ``peak_memory_gib``,
``PEAK_MEMORY_CELL``.
"""

from pathlib import Path

RECORD_MIME = "application/vnd.analysis-lib.record+json"


def record(**values):
    """Show a notebook's headline numbers and hand them to the pipeline, which gathers
    them from the executed notebooks of all stages (a sweep's too) into one table."""
    import numpy as np
    from IPython.display import display

    values = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}
    text = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in values.items())
    display({RECORD_MIME: values, "text/plain": f"recorded: {text}"}, raw=True)


def read_records(notebook_path):
    """The values ``record`` displayed in an executed notebook, merged in cell order."""
    import nbformat

    values = {}
    if Path(notebook_path).exists():
        for cell in nbformat.read(str(notebook_path), as_version=4).cells:
            for output in cell.get("outputs", []):
                values.update(output.get("data", {}).get(RECORD_MIME, {}))
    return values


def peak_memory_gib():
    """The largest resident memory this process has held so far, in GiB (the kernel
    keeps it: no sampling misses a short peak), or None where the platform has no
    ``resource`` module (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20  # bytes on macOS, KiB on Linux


#: What the pipeline runs after a notebook's last cell (hidden in the book).
PEAK_MEMORY_CELL = "from analysis_lib.reporting import peak_memory_gib, record\n\nrecord(peak_memory_gib=peak_memory_gib())"
