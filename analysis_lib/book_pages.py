"""An executed notebook made a page of the book: results first, code one click away.

The pipeline runs each stage's notebook with papermill and then calls ``finish_page``
on the executed copy. What a reader of the book sees is then:

- the title, a line naming the profile (and scale) that made the page's numbers, the
  page's headline results (``reporting.headline``, gathered from wherever the notebook
  measures them), then the text and the outputs in the notebook's order;
- analysis code folded (``hide-input``: a click shows it) unless the notebook tags a
  cell otherwise; bookkeeping cells removed (``remove-cell``): the ``parameters`` cell
  and papermill's injected one (the reproduce line names the profile whose values they
  are), cells of imports, plotting style and saving with nothing to show;
- each figure a numbered figure with the caption its cell gave (``reporting.caption``;
  a cell showing several figures becomes one cell per figure), a figure wider than the
  text column spread over the page's margin too (``full-width``), and a figure of panels
  side by side, or one whose smallest text would shrink below ``reporting.LEGIBLE_TEXT_PX`` on a
  phone's column (``PHONE_COLUMN_PX``), kept at its drawn size on a phone, in a box that
  scrolls sideways;
- the headline numbers ``reporting.record`` hands to the pipeline, not shown as a line of
  bookkeeping (the tables of the page show them with their errors);
- a last section with the one command that remakes the page.

A matrix value that the run's profile leaves out (``stage_list.in_profile``) still has its
page in the book: ``page_of_another_profile`` says which profiles make it, and how.

The machine's own folders are written as a reader knows them (``shown_paths``) and
TensorFlow's start-up lines are dropped. The notebook under ``notebooks/`` keeps every
cell as it is: JupyterLab shows the code.

Contents: ``CODE_TAGS``, ``BOOKKEEPING_CALLS``, ``TEXT_COLUMN_PX``, ``SEVERAL_PANELS_ASPECT``,
``SEVERAL_PANELS_CLASS``, ``PHONE_COLUMN_PX``, ``OUTPUT_ONLY_SOURCE``, ``CHANCE_AT_TWO_ERRORS``,
``claims_note``, ``is_bookkeeping``, ``finish_page``, ``profile_of_page``, ``page_of_another_profile``.
"""

import ast
import base64
import json
import re
import struct

import nbformat

from .metrics import significant
from .python_source import parse_python
from .reporting import CAPTION_MIME, CLAIM_MIME, HEADLINE_MIME, LEGIBLE_TEXT_PX, RECORD_MIME, SMALLEST_FONT_KEY
from .stage_list import run_command
from .tensorflow_startup import TENSORFLOW_STARTUP_LINES

#: Tags by which a notebook decides itself how a code cell shows (the finisher leaves these alone).
CODE_TAGS = {"remove-cell", "remove-input", "remove-output", "hide-input", "hide-output", "hide-cell", "show-input"}
#: Calls that only set a page up or save its results: a cell of nothing else (and imports) is not shown.
BOOKKEEPING_CALLS = {"use_style", "in_repository", "mkdir", "save_model", "save_arrays", "save_table", "save",
                     "record", "headline", "Path", "install", "filterwarnings", "set_printoptions", "set_option",
                     "seed", "set_random_seed"}
#: The width in CSS pixels of sphinx-book-theme's text column at 1366 px (a figure wider is shown full-width).
TEXT_COLUMN_PX = 760
#: A figure at least this many times wider than high has panels side by side (one panel is
#: drawn at most about 1.6 times wider than high): on a phone it keeps its drawn size and
#: scrolls sideways in its own box (the class ``SEVERAL_PANELS_CLASS`` in book/_static/book.css)
#: rather than shrink each panel to a third of the screen.
SEVERAL_PANELS_ASPECT = 2.4
SEVERAL_PANELS_CLASS = "several-panels"
#: The width of a figure's box on a 390 px phone: a figure whose smallest text
#: (``reporting.SMALLEST_FONT_KEY``) would shrink below ``reporting.LEGIBLE_TEXT_PX`` when fitted
#: to it keeps its drawn size there.
PHONE_COLUMN_PX = 342  # a figure's box at 390 px, measured in Chromium
_PROFILE_LINE = "*Every number on this page was made by the"
_REPRODUCE_HEADING = "## Reproduce this page"


#: The source of a cell the finisher makes to show outputs only (the page's headline block, the
#: outputs after a figure): never shown (``remove-input``), but not blank, because MyST-NB drops
#: a code cell whose source is blank, outputs and all (MyST-NB issue 386).
OUTPUT_ONLY_SOURCE = "# outputs of the cells above, shown on the page without code"


def _called(node):
    function = node.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)


def is_bookkeeping(source):
    """Whether a code cell only imports, sets the page up or saves: every statement an
    import or a call (or an assignment from a call) of ``BOOKKEEPING_CALLS``."""
    try:
        statements = parse_python(source).body
    except SyntaxError:  # IPython magics: shown as they are
        return False

    def bookkeeping(statement):
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            return True
        value = statement.value if isinstance(statement, (ast.Expr, ast.Assign, ast.AnnAssign)) else None
        return isinstance(value, ast.Call) and _called(value) in BOOKKEEPING_CALLS

    return bool(statements) and all(bookkeeping(s) for s in statements)


def _png_size_px(output):
    """(width, height) of a PNG output in CSS pixels (Retina images carry their shown width)."""
    header = base64.b64decode(output["data"]["image/png"][:44])
    width, height = struct.unpack(">II", header[16:24])
    shown = output.get("metadata", {}).get("image/png", {}).get("width")
    return (int(shown), round(height * int(shown) / width)) if shown else (width, height)


def _keeps_its_drawn_size_on_a_phone(output):
    """Whether an output is a figure of panels side by side (``SEVERAL_PANELS_ASPECT``), or one
    whose smallest text, fitted to a phone's column, falls below ``LEGIBLE_TEXT_PX``."""
    if "image/png" not in output.get("data", {}):
        return False
    width, height = _png_size_px(output)
    font_px = output.get("metadata", {}).get("image/png", {}).get(SMALLEST_FONT_KEY)
    illegible = bool(font_px) and width > PHONE_COLUMN_PX and font_px * PHONE_COLUMN_PX / width < LEGIBLE_TEXT_PX
    return width >= SEVERAL_PANELS_ASPECT * height or illegible


def _visible(outputs):
    """The outputs a reader sees: text, errors and every display but a bare record."""
    return [o for o in outputs if (o.output_type == "stream" and o.text.strip()) or o.output_type == "error"
            or set(o.get("data", {})) - {RECORD_MIME}]


def _finish_outputs(cell):
    """Drop TensorFlow's start-up lines, the records' text and empty streams; take out the
    captions and headlines. Returns (outputs, captions, the images' widths in pixels, headlines)."""
    kept, captions, widths, headlines = [], [], [], []
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stderr":
            # below Python, no setting but oneDNN off silences them
            output.text = "".join(line for line in output.text.splitlines(keepends=True)
                                  if not any(m in line for m in TENSORFLOW_STARTUP_LINES))
        data = output.get("data", {})
        if output.output_type == "stream" and not output.text:
            continue
        if RECORD_MIME in data:  # the pipeline reads it; the page's tables show these numbers with errors
            data.pop("text/plain", None)
        if CAPTION_MIME in data:
            captions.append(data[CAPTION_MIME])
            continue
        if HEADLINE_MIME in data:
            headlines.append(data[HEADLINE_MIME])
            continue
        if "image/png" in data:
            widths.append(_png_size_px(output)[0])
        kept.append(output)
    return kept, captions, widths, headlines


def _plain(markdown):
    """A caption's words without Markdown's marks: an image's alt text."""
    return re.sub(r"[*_`]", "", markdown).strip()


def _one_figure_each(cell, outputs, captions):
    """The cell, or the cell cut where its figures are (MyST-NB makes every output of a
    cell with a caption a figure): the k-th caption is the k-th figure's, each figure in a
    cell of its own, the other outputs in cells between them. The first keeps the code;
    the others show outputs only."""
    images = [i for i, o in enumerate(outputs) if "image/png" in o.get("data", {})]
    if not captions:
        cell.outputs = outputs
        return [cell]
    if len(captions) != len(images):
        raise ValueError(f"{len(captions)} caption(s) for {len(images)} figure(s) in the cell starting "
                         f"{cell.source[:60]!r}: give each figure its caption (reporting.caption)")
    cuts = sorted({0, len(outputs), *images, *(i + 1 for i in images)})
    cells, figure_captions = [], iter(captions)
    for start, stop in zip(cuts, cuts[1:]):
        part = cell if not cells else nbformat.v4.new_code_cell(OUTPUT_ONLY_SOURCE, id=f"{cell.id}-{len(cells)}",
                                                                metadata={"tags": ["remove-input"]})
        part.outputs = outputs[start:stop]
        if start in images:
            text = next(figure_captions)
            part.metadata.setdefault("mystnb", {})["figure"] = {"caption": text}
            # what the figure shows, for a screen reader or a figure that fails to load, not its file's path
            part.metadata["mystnb"]["image"] = {"alt": _plain(text)}
        cells.append(part)
    return cells


#: The chance that a check at two errors turns the other way on a true statement, two-sided,
#: for a Gaussian error: 2 (1 - Phi(2)).
CHANCE_AT_TWO_ERRORS = 0.0455003


def claims_note(n_claims, n_not_held, on_page=True):
    """The sentence that says how many claims a page (or, ``on_page=False``, a whole run)
    decided and what chance alone would turn: most claims are decided at two errors, and a
    true one fails such a check about 4.6 % of the time (a claim that makes several checks,
    more often)."""
    claims = f"{n_claims} claim{'s' if n_claims != 1 else ''}"
    held = f"{n_claims - n_not_held} held" if n_not_held else "all held"
    return (f"This run decided {claims}{' here' if on_page else ''} ({held}). A true claim checked at two errors "
            f"fails by chance about "
            f"{100 * CHANCE_AT_TWO_ERRORS:.1f} % of the time: of {n_claims}, about "
            f"{significant(n_claims * CHANCE_AT_TWO_ERRORS)} are expected to turn by chance alone.")


def _with_shown_paths(text, shown_paths):
    """``text`` with each folder of ``shown_paths`` written as the page shows it, where the folder
    is whole: ``/x/detA`` in ``/x/detA/f.h5`` or ``"/x/detA"``, never in ``/x/detAb``."""
    for prefix, shown in shown_paths.items():
        whole = "" if prefix.endswith("/") else r"(?![^/\\\s\"',\]\)])"  # the next character ends the folder's name
        text = re.sub(re.escape(prefix) + whole, lambda _: shown, text)
    return text


def finish_page(path, stage, shown_paths, profile="book", scale=1):
    """Make the executed notebook at ``path`` (stage ``stage`` of ``profile`` at ``scale``)
    a page of the book, in place (see the module's docstring). ``shown_paths`` maps an
    absolute folder of this machine to what the page writes instead."""
    notebook = nbformat.read(str(path), as_version=4)
    cells, figures, headlines = [], 0, []
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags:
            cell.source = _with_shown_paths(cell.source, shown_paths)
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        outputs, captions, widths, found = _finish_outputs(cell)
        headlines += found
        if not CODE_TAGS & set(tags):
            bookkeeping = not _visible(outputs) and is_bookkeeping(cell.source)
            tags.append("remove-cell" if {"parameters", "injected-parameters"} & set(tags) or bookkeeping
                        else "hide-input")
        if widths and max(widths) > TEXT_COLUMN_PX and "full-width" not in tags:
            tags.append("full-width")
        for part in _one_figure_each(cell, outputs, captions):
            if "figure" in part.metadata.get("mystnb", {}):
                figures += 1
                part.metadata["mystnb"]["figure"]["name"] = f"fig-{stage.id.replace('/', '-')}-{figures}"
            if part is not cell and "full-width" in tags:
                part.metadata["tags"].append("full-width")
            if any(_keeps_its_drawn_size_on_a_phone(o) for o in part.outputs):  # drawn size on a phone
                part.metadata.setdefault("mystnb", {}).setdefault("image", {})["classes"] = SEVERAL_PANELS_CLASS
            cells.append(part)
    notebook.cells = cells
    notebook.metadata["book_page"] = {"profile": profile, "scale": scale, "stage": stage.id}  # profile_of_page
    if "papermill" in notebook.metadata:  # not shown, but a published file either
        text = json.dumps(notebook.metadata["papermill"])
        escaped = {json.dumps(prefix)[1:-1]: json.dumps(shown)[1:-1] for prefix, shown in shown_paths.items()}
        notebook.metadata["papermill"] = json.loads(_with_shown_paths(text, escaped))
    heading = next((c for c in notebook.cells if c.cell_type == "markdown" and c.source.startswith("# ")), None)
    if heading is not None and _PROFILE_LINE not in heading.source:
        first, _, rest = heading.source.partition("\n")
        if stage.variant:
            first = f"{first}: {stage.variant}"
        scaled = "" if scale == 1 else f", its event counts and epochs scaled by {scale:g}"
        heading.source = (f"{first}\n\n{_PROFILE_LINE} `{profile}` profile of `stages.yml`{scaled} "
                          f"(stage `{stage.id}`).*" + (f"\n{rest}" if rest else ""))
    if headlines:  # output only (the numbers are the run's): under the title, before any text of the page
        summary = "**Measured on this run**\n\n" + "\n".join(f"- {h}" for h in headlines)
        shown = nbformat.v4.new_code_cell(OUTPUT_ONLY_SOURCE, id="page-headline", metadata={"tags": ["remove-input"]},
                                          outputs=[
            nbformat.v4.new_output("display_data", data={"text/markdown": summary})])
        where = notebook.cells.index(heading) + 1 if heading is not None else 0
        if heading is not None:  # the title cell goes on with the page's text: the headline comes before it
            lines = heading.source.split("\n")
            profile_line = next(i for i, line in enumerate(lines) if line.startswith(_PROFILE_LINE))
            text = "\n".join(lines[profile_line + 1:]).strip("\n")
            if text:
                heading.source = "\n".join(lines[:profile_line + 1])
                notebook.cells.insert(where, nbformat.v4.new_markdown_cell(text, id="page-introduction"))
        notebook.cells.insert(where, shown)
    decided = [o["data"][CLAIM_MIME]["holds"] for c in notebook.cells if c.cell_type == "code"
               for o in c.get("outputs", []) if CLAIM_MIME in o.get("data", {})]
    if decided and not any(c.get("id") == "page-claims" for c in notebook.cells):  # an output: the run computed it
        notebook.cells.append(nbformat.v4.new_code_cell(
            OUTPUT_ONLY_SOURCE, id="page-claims", metadata={"tags": ["remove-input"]},
            outputs=[nbformat.v4.new_output("display_data", data={
                "text/markdown": f"*{claims_note(len(decided), decided.count(False))}*"})]))
    if not any(c.cell_type == "markdown" and c.source.startswith(_REPRODUCE_HEADING) for c in notebook.cells):
        scaled = "" if scale == 1 else f" --scale {scale:g}"
        notebook.cells.append(nbformat.v4.new_markdown_cell(
            f"{_REPRODUCE_HEADING}\n\nIn the repository, after `make install` (or `make book`), this remakes the "
            f"page and every stage it needs (the stages that are up to date are skipped):\n\n"
            f"```bash\n{run_command(profile, stage.id, python='.venv/bin/python')}{scaled}\n```\n",
            id="reproduce"))
    nbformat.write(notebook, str(path))


def profile_of_page(path):
    """The profile that made a finished page's numbers (``finish_page`` notes it in the
    notebook's metadata), or None for a page it did not finish (``page_of_another_profile``)."""
    return nbformat.read(str(path), as_version=4).metadata.get("book_page", {}).get("profile")


def page_of_another_profile(stage, profile, path):
    """Write at ``path`` the page of a matrix ``stage`` that ``profile`` does not run: its
    title and matrix value, the profiles that do run it, and the command that makes the page."""
    title = next((line for line in nbformat.read(str(stage.notebook), as_version=4).cells[0].source.split("\n")
                  if line.startswith("# ")), f"# {stage.id}")
    makers = [p for p in ("full", "book", "smoke") if p in stage.profiles]
    named = " and ".join(f"`{p}`" for p in makers) + (" profiles make" if len(makers) > 1 else " profile makes")
    text = (f"{title}: {stage.variant}\n\n*This book was built with the `{profile}` profile of `stages.yml`, which "
            f"does not run this page (stage `{stage.id}`, {stage.matrix_parameter} = {stage.variant}): it fits its "
            f"time by running this stage for fewer values of {stage.matrix_parameter}, on the pages beside this one. "
            f"The {named} it.*\n\n{_REPRODUCE_HEADING}\n\nIn the repository, after `make install`:\n\n"
            f"```bash\n{run_command(makers[0], stage.id, python='.venv/bin/python')}\n```\n")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text, id="another-profile")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(path))
