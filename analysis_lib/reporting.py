"""A notebook's headline numbers and conclusions, handed to the pipeline.

``record`` shows a page's headline numbers and tags them with a MIME type of their own;
``read_records`` reads them back from an executed notebook, so the pipeline gathers every
stage's numbers into one table. ``claim`` prints the sentence a page's numbers support:
the conclusion where its check holds on this run, what was measured instead where it does
not, and hands the outcome to the pipeline (``read_claims``), whose summary names every
claim that did not hold, by page; ``equivalence`` words a "no effect" claim decided against a
tolerance. ``say`` prints Markdown built from the run (a page's
text with its numbers). ``caption`` gives the figure of its cell a numbered caption in the
book, and ``headline`` puts a result under the page's title (the page finisher,
``book_pages``, moves both there). ``publishable_tables`` makes the tables a page
displays tables a physicist would publish, and ``with_errors`` writes a measured column and
its error column as one column of ``value ± error``. The pipeline also records each
notebook's peak memory, from a last cell it appends.

Contents: ``RECORD_MIME``, ``CLAIM_MIME``, ``CAPTION_MIME``, ``HEADLINE_MIME``, ``SMALLEST_FONT_KEY``,
``LEGIBLE_TEXT_PX``, ``FULL_WIDTH_PX``,
``record``, ``read_records``, ``say``, ``claim``, ``read_claims``, ``read_claim_sentences``, ``equivalence``,
``caption``, ``headline``, ``table_number``, ``table_html``, ``publishable_tables``, ``with_errors``,
``peak_memory_gib``, ``PEAK_MEMORY_CELL``.
"""

import sys
from pathlib import Path

import numpy as np
from IPython import get_ipython
from IPython.display import Markdown, display

# pandas and .metrics (scipy.stats: 2-3 s) are imported in the functions that use them: the
# pipeline's last cell (PEAK_MEMORY_CELL) imports this module in every kernel, a test's tiny ones too

RECORD_MIME = "application/vnd.analysis-lib.record+json"
CLAIM_MIME = "application/vnd.analysis-lib.claim+json"
CAPTION_MIME = "application/vnd.analysis-lib.caption+json"
HEADLINE_MIME = "application/vnd.analysis-lib.headline+json"
#: The key of a figure's PNG metadata that holds the height in pixels of its smallest text as drawn
#: (``plotting.smallest_font_px``), for the book to keep it legible where the figure is shown smaller.
SMALLEST_FONT_KEY = "smallest_font_px"
#: The smallest height in CSS pixels at which a figure's text is shown, and the widest a figure
#: is shown at on a 1366 px screen (a full-width figure's box, measured in Chromium): the
#: plotting style draws every text large enough to stay legible there.
LEGIBLE_TEXT_PX = 9.0
FULL_WIDTH_PX = 1013


def record(**values):
    """Show a notebook's headline numbers and hand them to the pipeline, which gathers
    them from the executed notebooks of all stages (a sweep's too) into one table."""
    values = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}
    text = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in values.items())
    display({RECORD_MIME: values, "text/plain": f"recorded: {text}"}, raw=True)


def _displayed(notebook_path, mime):
    """Every output of type ``mime`` in an executed notebook, in cell order."""
    import nbformat  # here, not above: it loads jsonschema's format checkers (3 s), which a kernel rarely needs

    if not Path(notebook_path).exists():
        return []
    return [output["data"][mime] for cell in nbformat.read(str(notebook_path), as_version=4).cells
            for output in cell.get("outputs", []) if mime in output.get("data", {})]


def read_records(notebook_path):
    """The values ``record`` displayed in an executed notebook, merged in cell order."""
    values = {}
    for shown in _displayed(notebook_path, RECORD_MIME):
        values.update(shown)
    return values


def say(markdown):
    """Show Markdown built from this run's numbers as the page's text (in a cell tagged
    ``remove-input``, the reader sees a paragraph, not code)."""
    display(Markdown(markdown))


def claim(name, holds, said, otherwise):
    """A conclusion checked on this run: shows ``said`` where ``holds`` is true, else
    ``otherwise`` (what was measured instead; it must not repeat the conclusion), and hands
    ``name`` and the outcome to the pipeline, which lists every claim that did not hold.

    ``holds`` is the check itself, with its statistical error inside it (e.g. a pull mean
    within three of its errors of zero), computed in the cell from the page's numbers. Both
    sentences go with the outcome (``read_claim_sentences``): the one a run does not show is
    read too, so a test checks the wording of both branches of every claim on one run."""
    holds = bool(holds)
    display({CLAIM_MIME: {"claim": name, "holds": holds, "said": said, "otherwise": otherwise},
             "text/markdown": said if holds else otherwise}, raw=True)


def read_claims(notebook_path):
    """{claim name: whether it held} for every ``claim`` of an executed notebook."""
    return {shown["claim"]: shown["holds"] for shown in _displayed(notebook_path, CLAIM_MIME)}


def read_claim_sentences(notebook_path):
    """{claim name: (what it says where it holds, what it says otherwise)} for every ``claim``
    of an executed notebook, both computed from that run's numbers."""
    return {shown["claim"]: (shown["said"], shown["otherwise"]) for shown in _displayed(notebook_path, CLAIM_MIME)}


def equivalence(what, difference, error, tolerance, unit=""):
    """(verdict, sentence) of an "as good as" / "no effect" statement decided against a stated
    ``tolerance`` (``metrics.tolerance_verdict`` at two errors), never by a difference that is
    merely not significant. ``what`` names the difference ("the back layer's cost in AUC");
    each of the three verdicts reads affirmatively, with the measured difference:

        within        "<what> is within ±tol: d ± e, inside it at two errors."
        beyond        "<what> exceeds ±tol: d ± e, outside it at two errors."
        not resolved  "this test sample does not resolve <what> against ±tol: d ± e, ..."
    """
    from .metrics import round_to_error, tolerance_verdict

    verdict = tolerance_verdict(difference, error, tolerance)
    measured, bound = f"{round_to_error(difference, error)}{unit}", f"±{tolerance:g}{unit}"
    sentence = {"within": f"{what} is within {bound}: {measured}, inside it at two errors.",
                "beyond": f"{what} exceeds {bound}: {measured}, outside it at two errors.",
                "not resolved": f"this test sample does not resolve {what} against {bound}: {measured}, whose two "
                                "errors reach across the tolerance."}[verdict]
    return verdict, sentence[0].upper() + sentence[1:]


def caption(text):
    """The caption of the one figure this cell shows: what to see in it (Markdown, built
    from the run where it quotes numbers). JupyterLab shows it under the cell; the book
    makes it the figure's numbered caption."""
    display({CAPTION_MIME: text, "text/markdown": f"*Figure: {text}*"}, raw=True)


def headline(markdown):
    """A headline result of the page (Markdown built from this run, with its errors): shown
    where it is measured in JupyterLab, and gathered under the title of the book's page, so a
    reader sees what was measured before any figure or code."""
    display({HEADLINE_MIME: markdown, "text/markdown": f"**Headline:** {markdown}"}, raw=True)


def table_number(value):
    """A table's number as a physicist writes it: four significant figures, whole numbers
    from ten thousand up with thin-space thousands (``10 575``, not ``10574.56``)."""
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1e4:
        return f"{value:,.0f}".replace(",", "\u2009")
    return f"{value:.4g}"


def table_html(table):
    """A DataFrame or Series as the book shows it: no row numbers for a plain range index,
    ``n/a`` for a missing value, ``table_number`` for floats, every column and no label cut
    short, inside a box that scrolls sideways when the table is wider than the page."""
    import pandas as pd

    frame = table.to_frame() if isinstance(table, pd.Series) else table
    with pd.option_context("display.max_colwidth", None, "display.max_columns", None):  # no "..." in a label
        html = frame.to_html(index=not isinstance(frame.index, pd.RangeIndex), na_rep="n/a",
                             float_format=table_number, border=0, classes="book-table")
    return f'<div class="table-scroll">{html}</div>'


def publishable_tables():
    """Show every DataFrame and Series of this kernel through ``table_html`` (a Series
    as a table, not as its ``Name: ..., dtype`` repr). Hand-formatted tables elsewhere
    would repeat it in every notebook; IPython's formatter does it once."""
    import pandas as pd

    shell = get_ipython()
    if shell is None:  # a plain Python process: nothing displays
        return
    html = shell.display_formatter.formatters["text/html"]
    for kind in (pd.DataFrame, pd.Series):
        html.for_type(kind, table_html)


def with_errors(table, errors, unmeasured=None):
    """A copy of ``table`` for display in which each measured column of ``errors`` (a dict
    {column: its error column}, or a pattern such as ``"error {}"`` that names the error
    column of every column that has one) reads ``value ± error``, rounded to the error's
    two significant figures (``metrics.round_to_error``), and the error columns are gone.
    A missing value reads ``n/a``, or what ``unmeasured[column]`` says: one text, or one
    per row (a bound such as "> 267"). The files a stage writes keep both columns."""
    from .metrics import round_to_error

    if isinstance(errors, str):
        errors = {c: errors.format(c) for c in table.columns if errors.format(c) in table.columns}
    absent = sorted({c for pair in errors.items() for c in pair} - set(table.columns))
    if absent:
        raise KeyError(f"no column {absent} in the table (its columns: {list(table.columns)})")
    shown = table.copy()
    for column, error in errors.items():
        instead = (unmeasured or {}).get(column, "n/a")
        instead = [instead] * len(table) if isinstance(instead, str) else instead
        shown[column] = [round_to_error(v, e) if v == v else text
                         for v, e, text in zip(table[column], table[error], instead)]
    return shown.drop(columns=list(errors.values()))


def peak_memory_gib():
    """The largest resident memory this process has held so far, in GiB (the kernel
    keeps it: no sampling misses a short peak), or None where the platform has no
    ``resource`` module (Windows)."""
    try:
        import resource  # Unix only
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20  # bytes on macOS, KiB on Linux


#: What the pipeline runs after a notebook's last cell (hidden in the book).
PEAK_MEMORY_CELL = ("from analysis_lib.reporting import peak_memory_gib, record\n\n"
                    "record(peak_memory_gib=peak_memory_gib())")
