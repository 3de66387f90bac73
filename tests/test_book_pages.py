"""An executed notebook made a page: code folded, bookkeeping removed, captions numbered,
wide figures full-width, records not shown as text, the reproduce command last, and the
book's tables without NaN or row numbers."""

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from analysis_lib.book_pages import OUTPUT_ONLY_SOURCE, SEVERAL_PANELS_CLASS, finish_page, is_bookkeeping
from analysis_lib.reporting import CAPTION_MIME, RECORD_MIME, read_records, table_html, table_number
from analysis_lib.repository import REPOSITORY_DIR
from analysis_lib.stage_list import Stage

CELLS = [
    ("markdown", "# A study\n\nWhat it measures."),
    ("code", "import numpy as np\nimport matplotlib.pyplot as plt\n"
             "from analysis_lib.plotting import use_style\nuse_style()"),
    ("code", "values = np.arange(3.0)"),
    ("code", "fig, ax = plt.subplots(figsize=(4, 3))\nax.plot(values)\n"
             "from analysis_lib.reporting import caption\ncaption('A line: it rises.')\nplt.show()"),
    ("code", "fig, axes = plt.subplots(1, 4, figsize=(16, 3))\nplt.show()"),
    ("code", "import pandas as pd\npd.DataFrame({'AUC': [0.91234567, float('nan')], 'N': [1, 2]})"),
    ("code", "from analysis_lib.reporting import record\nrecord(auc=0.9)"),
    ("code", "print('a result line')"),
    ("code", "for k in (1, 2):\n    plt.plot([0, k])\n    plt.show()\n    caption(f'Line {k}.')"),
    ("code", "fig, ax = plt.subplots(figsize=(7.5, 4.5))\nax.plot(values)\n"
             "ax.set_title('small', fontsize=8)\nplt.show()"),
    ("code", "from analysis_lib.reporting import headline\nheadline(f'AUC {0.91:.2f} ± 0.01')"),
]


@pytest.fixture(scope="module")
def finished_page(tmp_path_factory):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(s) if kind == "markdown" else nbformat.v4.new_code_cell(s) for kind, s in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    path = tmp_path_factory.mktemp("page") / "page.ipynb"
    nbformat.write(notebook, str(path))
    stage = Stage("study/stage", path, variant="axion1")
    finish_page(path, stage, {}, profile="smoke")
    finish_page(path, stage, {}, profile="smoke")  # a second time changes nothing
    return nbformat.read(str(path), as_version=4)


def _tags(cell):
    return cell.metadata.get("tags", [])


def _after_headline(page):
    """The cells of the notebook's own, in order: the title, headline and introduction
    the finisher put first are left out."""
    return [c for c in page.cells if c.get("id") not in ("page-headline", "page-introduction")]


def test_code_is_folded_and_bookkeeping_removed(finished_page):
    imports, computation, figure, wide, table, record, printed = _after_headline(finished_page)[1:8]
    assert "remove-cell" in _tags(imports)
    assert "remove-cell" in _tags(record)
    for cell in (computation, figure, wide, table, printed):
        assert sorted(_tags(cell)) in (["hide-input"], ["full-width", "hide-input"]), _tags(cell)


def test_a_caption_becomes_the_figures_and_a_wide_figure_spans_the_page(finished_page):
    figure, wide = _after_headline(finished_page)[3:5]
    assert figure.metadata["mystnb"]["figure"] == {"caption": "A line: it rises.", "name": "fig-study-stage-1"}
    assert not [o for o in figure.outputs if "text/markdown" in o.get("data", {})], "the caption is shown twice"
    assert "full-width" in _tags(wide) and "full-width" not in _tags(figure)


def test_a_figure_of_panels_side_by_side_keeps_its_size_on_a_phone(finished_page):
    """The four panels of a 16 x 3 inch figure get the class that book.css keeps at its drawn
    size on a phone (scrolling sideways); a single 4 x 3 inch panel does not."""
    figure, wide = _after_headline(finished_page)[3:5]
    assert wide.metadata["mystnb"]["image"] == {"classes": SEVERAL_PANELS_CLASS}
    assert "classes" not in figure.metadata["mystnb"]["image"]
    assert figure.metadata["mystnb"]["image"]["alt"] == "A line: it rises."  # what it shows, not its file
    assert f"img.{SEVERAL_PANELS_CLASS}" in (REPOSITORY_DIR / "book/_static/book.css").read_text()


def test_a_figure_whose_smallest_text_would_shrink_below_legibility_keeps_its_size_on_a_phone(finished_page):
    """A 7.5 inch figure with an 8-point title, fitted to a phone's column, would show that title
    about 5 px high: its PNG says its smallest text's drawn height, and it keeps its drawn size
    on a phone; the 4 x 3 inch figure, its smallest text 10 points, fits the column legibly and does not."""
    from analysis_lib.book_pages import PHONE_COLUMN_PX
    from analysis_lib.reporting import LEGIBLE_TEXT_PX, SMALLEST_FONT_KEY

    small = next(c for c in finished_page.cells if "set_title('small'" in c.source)
    (png,) = [o for o in small.outputs if "image/png" in o.get("data", {})]
    font_px = png.metadata["image/png"][SMALLEST_FONT_KEY]
    assert font_px == pytest.approx(8 * 100 / 72, rel=0.01)  # 8 points at the inline backend's 100 dpi
    assert font_px * PHONE_COLUMN_PX / 750 < LEGIBLE_TEXT_PX
    assert small.metadata["mystnb"]["image"]["classes"] == SEVERAL_PANELS_CLASS
    figure = _after_headline(finished_page)[3]
    (shown,) = [o for o in figure.outputs if "image/png" in o.get("data", {})]
    assert shown.metadata["image/png"][SMALLEST_FONT_KEY] >= 10 * 100 / 72 - 0.01  # the style's legend size


def test_a_loop_of_figures_becomes_one_numbered_figure_each(finished_page):
    first, second = _after_headline(finished_page)[8:10]
    assert first.source.startswith("for k in") and second.source == OUTPUT_ONLY_SOURCE
    assert "remove-input" in _tags(second)
    assert [c.metadata["mystnb"]["figure"] for c in (first, second)] == [
        {"caption": "Line 1.", "name": "fig-study-stage-2"}, {"caption": "Line 2.", "name": "fig-study-stage-3"}]
    assert [sum("image/png" in o.get("data", {}) for o in c.outputs) for c in (first, second)] == [1, 1]


def test_no_code_cell_with_outputs_has_a_blank_source(finished_page):
    """MyST-NB drops a code cell whose source is blank, outputs and all (its issue 386): the
    headline block and the outputs after a figure vanished from the HTML that way. Every cell
    of the page that shows outputs has a source, hidden by its tag."""
    shown = [c for c in finished_page.cells if c.cell_type == "code" and c.outputs]
    assert shown and all(c.source.strip() for c in shown), [c.id for c in shown if not c.source.strip()]


def test_captions_that_do_not_match_the_figures_are_refused(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "plt.show()", outputs=[nbformat.v4.new_output("display_data", data={"text/plain": "x"}),
                               nbformat.v4.new_output("display_data", data={CAPTION_MIME: "A figure."})])])
    path = tmp_path / "page.ipynb"
    nbformat.write(notebook, str(path))
    with pytest.raises(ValueError, match="1 caption.*0 figure"):
        finish_page(path, Stage("study/stage", path), {})


def test_a_record_is_read_but_not_shown_as_text(finished_page, tmp_path):
    record = _after_headline(finished_page)[6]
    assert [set(o["data"]) for o in record.outputs] == [{RECORD_MIME}]
    path = tmp_path / "page.ipynb"
    nbformat.write(finished_page, str(path))
    assert read_records(path) == {"auc": 0.9}


def test_the_headline_comes_under_the_title_before_the_text(finished_page):
    title, headline, introduction = finished_page.cells[:3]
    assert headline.outputs[0]["data"]["text/markdown"] == "**Measured on this run**\n\n- AUC 0.91 ± 0.01"
    assert "remove-input" in _tags(headline) and introduction.source == "What it measures."
    assert "What it measures" not in title.source
    assert "remove-cell" in _tags(_after_headline(finished_page)[-2]), "a cell left empty by its headline is shown"
    assert len({c.id for c in finished_page.cells}) == len(finished_page.cells), "two cells share an id"


def test_the_title_names_variant_and_profile_once_and_the_page_ends_with_its_command(finished_page):
    title = finished_page.cells[0].source
    assert title.startswith("# A study: axion1\n") and title.count("`smoke` profile") == 1
    last = finished_page.cells[-1].source
    assert last.startswith("## Reproduce this page")
    assert ".venv/bin/python -m analysis_lib run --profile smoke --only study/stage" in last
    assert sum(c.source.startswith("## Reproduce") for c in finished_page.cells) == 1


def test_a_table_has_no_nan_and_no_row_numbers(finished_page):
    html = _after_headline(finished_page)[5].outputs[0]["data"]["text/html"]
    assert "NaN" not in html and "n/a" in html and "0.9123" in html and "0.91234567" not in html
    assert "<th>0</th>" not in html, "a range index is shown as a column"
    assert html.startswith('<div class="table-scroll">')


def test_a_measured_column_and_its_error_column_become_one_column():
    from analysis_lib.reporting import with_errors

    table = pd.DataFrame({"AUC": [0.8373, np.nan], "AUC error": [0.0368, np.nan], "events": [300, 0],
                          "rejection": [np.nan, 25.04], "error rejection": [np.nan, 4.9]})
    shown = with_errors(table, {"AUC": "AUC error"}, {"AUC": "no events"})
    assert list(shown.columns) == ["AUC", "events", "rejection", "error rejection"]
    assert list(shown["AUC"]) == ["0.837 ± 0.037", "no events"]
    by_name = with_errors(table, "error {}", {"rejection": ["> 300", "> 0"]})
    assert list(by_name["rejection"]) == ["> 300", "25.0 ± 4.9"] and "error rejection" not in by_name
    with pytest.raises(KeyError, match="no column"):
        with_errors(table, {"AUC": "its error"})


def test_table_numbers_read_as_written():
    assert [table_number(v) for v in (10574.56, 0.000123456, float("nan"), 3.0)] == ["10\u2009575", "0.0001235",
                                                                                        "n/a", "3"]
    import pandas as pd
    assert "Name:" not in table_html(pd.Series([1.0, 2.0], name="x"))


@pytest.mark.parametrize("source, bookkeeping", [
    ("import numpy as np\nfrom pathlib import Path", True),
    ("use_style()\noutput_dir = Path(output_dir)\noutput_dir.mkdir(parents=True, exist_ok=True)", True),
    ("bdt.save_model(output_dir / 'bdt.json')", True),
    ("model = train(x)", False),
    ("import numpy as np\nresult = np.mean(x)", False),
    ("%matplotlib inline", False),
])
def test_what_counts_as_bookkeeping(source, bookkeeping):
    assert is_bookkeeping(source) is bookkeeping


def test_a_page_says_how_many_claims_it_decided_and_how_many_chance_would_turn(tmp_path):
    from analysis_lib.reporting import CLAIM_MIME

    outputs = [nbformat.v4.new_output("display_data", data={CLAIM_MIME: {"claim": name, "holds": holds},
                                                             "text/markdown": name})
               for name, holds in (("a", True), ("b", False), ("c", True))]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A study"),
                                               nbformat.v4.new_code_cell("checks()", outputs=outputs)])
    path = tmp_path / "page.ipynb"
    nbformat.write(notebook, str(path))
    finish_page(path, Stage("study/stage", path), {})
    finish_page(path, Stage("study/stage", path), {})  # once only
    notes = [c.outputs[0]["data"]["text/markdown"] for c in nbformat.read(str(path), as_version=4).cells
             if c.get("id") == "page-claims"]
    assert notes == ["*This run decided 3 claims here (2 held). A true claim checked at two errors fails by chance "
                     "about 4.6 % of the time: of 3, about 0.14 are expected to turn by chance alone.*"]


def test_a_folder_is_shown_as_the_reader_knows_it_only_where_its_name_is_whole(tmp_path):
    """``--data-dir /x/detA`` beside ``--book-dir /x/detAb``: only the first is rewritten."""
    injected = nbformat.v4.new_code_cell('data_dir = "/x/detA/atlas"\nbook = "/x/detAb/p"\nother = "/x/detA"',
                                         metadata={"tags": ["injected-parameters"]})
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Page"), injected])
    notebook.metadata["papermill"] = {"parameters": {"data_dir": "/x/detA/atlas", "book": "/x/detAb/p"}}
    path = tmp_path / "page.ipynb"
    nbformat.write(notebook, str(path))
    finish_page(path, Stage("study/stage", path), {"/x/detA": "data/smoke"})
    page = nbformat.read(str(path), as_version=4)
    source = next(c.source for c in page.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert source == 'data_dir = "data/smoke/atlas"\nbook = "/x/detAb/p"\nother = "data/smoke"'
    assert page.metadata["papermill"]["parameters"] == {"data_dir": "data/smoke/atlas", "book": "/x/detAb/p"}


def test_every_text_of_a_wide_figure_is_drawn_to_stay_legible_where_the_book_shows_it():
    """A 16-inch row of four panels with 7-point legend and tick labels is shown at most 1013 px
    wide at 1366 px: its smallest text would be 7 pt x 100/72 x 1013/1600 = 6.2 px high. The style
    enlarges every text to stay above LEGIBLE_TEXT_PX there (ticks drawn later too); a 7-inch
    figure's 10-point text is left as it is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis_lib.plotting import legible_text, smallest_font_px
    from analysis_lib.reporting import FULL_WIDTH_PX, LEGIBLE_TEXT_PX

    wide, axes = plt.subplots(1, 4, figsize=(16, 3.6), dpi=100)
    for ax in axes:
        ax.plot([0, 1], [0, 1e4], label="a line")
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    assert smallest_font_px(wide) * FULL_WIDTH_PX / 1600 < LEGIBLE_TEXT_PX
    legible_text(wide)
    wide.canvas.draw()  # new ticks take the axis's label size
    assert smallest_font_px(wide) * FULL_WIDTH_PX / 1600 >= LEGIBLE_TEXT_PX
    narrow, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    ax.set_title("ten points", fontsize=10)
    legible_text(narrow)
    assert ax.title.get_fontsize() == 10
    plt.close("all")
