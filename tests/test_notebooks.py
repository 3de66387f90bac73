"""Every stage of the book, smoke-sized, through the real pipeline and stages.yml."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from analysis_lib.pipeline import Pipeline, default_root, load_stages
from analysis_lib.reporting import LEGIBLE_TEXT_PX, SMALLEST_FONT_KEY

ROOT = default_root()
STAGES = load_stages(ROOT / "stages.yml")
# the first test sets up the smoke run of every stage (11 to 16 minutes on 2 cores here, more on a
# slower runner): the module's tests get a longer limit than the suite's 900 s
pytestmark = pytest.mark.timeout(2400)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("smoke")
    pipeline = Pipeline(STAGES, profile="smoke", root=ROOT, data_dir=base / "data", book_dir=base / "book", jobs=2,
                        log=lambda message: None)
    return pipeline, pipeline.run()


def test_every_stage_runs_on_the_smoke_profile(smoke_run):
    _, results = smoke_run
    failed = [f"{r.stage}: {r.message}" for r in results if r.status != "ran"]
    assert not failed, failed


@pytest.mark.parametrize("stage", [s for s in STAGES if "smoke" in s.profiles], ids=lambda s: s.id)
def test_executed_notebook_has_no_errors_and_shows_figures(smoke_run, stage):
    pipeline, _ = smoke_run
    notebook = nbformat.read(pipeline.output_notebook(stage), as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1  # the profile's values are recorded in the page
    has_figure = any("image/png" in o.get("data", {}) for o in outputs)
    has_table = any("text/html" in o.get("data", {}) for o in outputs)
    assert has_figure or has_table


def test_a_second_run_with_nothing_changed_skips_everything(smoke_run):
    pipeline, _ = smoke_run
    again = Pipeline(STAGES, profile="smoke", root=ROOT, data_dir=pipeline.data_dir, book_dir=pipeline.book_dir,
                     log=lambda message: None).run()
    assert {r.status for r in again} == {"skipped"}


# The tables of every stage are pinned to the last digit by
# ``test_a_smoke_run_gives_the_numbers_recorded_before``; a rerun adds the model files' bytes,
# for one stage of each kind of model (trees, Keras on images, Keras with a mass input, the
# hybrid per-sampling CNN). LArTPC's training, the longest smoke stage, is pinned by its tables.
RERUN = ("photon_jets/bdt/axion1", "photon_jets/cnn/axion1", "ldmx/train_evaluate/four_masses", "photon_id/hybrid_cnn")


def test_a_rerun_writes_the_same_tables_and_model_files_byte_for_byte(smoke_run, tmp_path):
    """Same seed, same numbers to the last digit, and same model bytes: every table,
    decision file and .keras model these trainings write, compared after a forced rerun."""
    pipeline, _ = smoke_run
    stages = [s for s in STAGES if s.id in RERUN]
    assert len(stages) == len(RERUN)
    outputs = sorted(p for s in stages for w in s.paths("writes", pipeline.data_dir)
                     for p in ([w] if w.is_file() else w.rglob("*")) if p.suffix in (".csv", ".keras", ".json"))
    assert len([p for p in outputs if p.suffix == ".keras"]) >= 4 and len(outputs) >= 10
    before = {p: p.read_bytes() for p in outputs}
    again = Pipeline(stages, profile="smoke", root=ROOT, data_dir=pipeline.data_dir, book_dir=tmp_path, force=True,
                     jobs=2, log=lambda message: None).run()
    assert {r.status for r in again} == {"ran"}
    changed = [str(p.relative_to(pipeline.data_dir)) for p in outputs if p.read_bytes() != before[p]]
    assert not changed, changed


def test_a_smoke_run_gives_the_numbers_recorded_before(smoke_run, request):
    """Every result table of the smoke run against the one recorded in the repository:
    to the last digit on the platform that recorded it, within round-off elsewhere
    (``recorded_numbers``). A change meant to move numbers records them again."""
    from tests import recorded_numbers

    pipeline, _ = smoke_run
    tables = recorded_numbers.read_tables(pipeline.data_dir)
    assert len(tables) >= 25 and all(t["rows"] for t in tables.values())
    if request.config.getoption("--record-smoke-numbers"):
        recorded_numbers.write_record(tables)
    moved = recorded_numbers.differences(recorded_numbers.read_record(), tables)
    assert not moved, f"{len(moved)} numbers moved: " + "; ".join(moved[:15])


def test_the_comparison_of_recorded_numbers_finds_a_moved_number_and_forgives_round_off():
    from tests import recorded_numbers

    table = {"columns": ["model", "value", "test error", "note"],
             "rows": [["CNN", 0.8, 0.02, "1.25 ± 0.05"], ["BDT", 0.9, 0.01, "> 180"]]}
    here = {"platform": recorded_numbers.platform(), "tables": {"t.csv": table}}
    elsewhere = dict(here, platform={"numpy": "another"})

    def moved(rows, record=here):
        return recorded_numbers.differences(record, {"t.csv": dict(table, rows=rows)})

    assert moved(table["rows"]) == []
    nudged = [["CNN", 0.81, 0.02, "1.27 ± 0.05"], ["BDT", 0.9, 0.012, "> 180"]]
    assert len(moved(nudged)) == 3  # the same platform: every digit counts
    assert moved(nudged, elsewhere) == []  # another: within two errors, an error within half itself
    assert len(moved([["CNN", 0.7, 0.02, "1.45 ± 0.05"], ["BDT", 0.9, 0.01, "> 170"]], elsewhere)) == 3
    assert moved(table["rows"][:1])[0].startswith("t.csv: columns or rows changed")


#: Stages that train networks for a measurement, not for a headline figure.
NOT_HEADLINE = ("photon_jets/gap",)


def test_a_profiles_results_page_reads_the_headlines_of_the_stages_that_profile_runs(smoke_run, tmp_path):
    """The book profile leaves photon-jet tasks out: its results page, given only the headline
    tables of the stages the book runs (here the smoke run's), shows those and reads nothing
    else (it had read every stage's seed spread and failed on the first task left out)."""
    import shutil

    import papermill

    from analysis_lib.stage_list import in_profile

    pipeline, _ = smoke_run
    data = tmp_path / "data"
    for stage in in_profile(STAGES, "book"):
        for table in stage.paths("headlines", pipeline.data_dir):
            (data / table.relative_to(pipeline.data_dir)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(table, data / table.relative_to(pipeline.data_dir))
    results = next(s for s in STAGES if s.id == "results/results")
    page = papermill.execute_notebook(str(results.notebook), str(tmp_path / "results.ipynb"), cwd=str(ROOT),
                                      parameters={"data_dir": str(data), "profile": "book"}, progress_bar=False)
    text = json.dumps(page.cells, ensure_ascii=False)  # a stage name breaks at "/": U+200B
    assert "This build ran axion1 only" in text and "photon_jets/\u200bcnn/\u200baxion1" in text
    assert "photon_jets/\u200bcnn/\u200bscalar1" not in text


def test_every_trained_network_reports_its_seed_spread_on_the_results_page(smoke_run):
    """Every stage whose notebook trains a network declares a seed-spread table among its
    headlines; each model in it has one row per seed, and the results page shows them all."""
    from analysis_lib.io import load_table
    from analysis_lib.seeds import SPREAD_FILE

    pipeline, _ = smoke_run
    trains = [s for s in STAGES if not s.id.startswith(NOT_HEADLINE) and any(
        call in s.notebook.read_text() for call in ("train_classifier(", "train_regressor(", "train_photon_jet_cnn(",
                                                    "cnn_scores("))]
    assert len(trains) == 14  # 3 CNN, 3 PFN, 2 photon-jet scale, 2 shashlik, 2 LDMX, photon ID, LArTPC
    page = pipeline.output_notebook(next(s for s in STAGES if s.id == "results/results")).read_text()
    for stage in trains:
        spreads = [p for p in stage.paths("headlines", pipeline.data_dir) if p.name == SPREAD_FILE]
        assert len(spreads) == 1, stage.id
        table = load_table(spreads[0])
        seeds = stage.parameters["smoke"]["spread_seeds"]
        assert (table.groupby(["model", "number"])["seed"].nunique() == 1 + len(seeds)).all(), stage.id
        assert table["test error"].gt(0).all() and table["value"].notna().all(), stage.id
        assert stage.id in page.replace("\u200b", "").replace("\\u200b", ""), stage.id  # breakable at "/"


def test_simulation_stage_writes_every_sample(smoke_run):
    pipeline, _ = smoke_run
    folder = pipeline.data_dir / "atlas_ecal"
    for particle in ("gamma", "electron", "pi0", "scalar1", "axion1", "axion2"):
        assert (folder / f"{particle}_40-250GeV.h5").exists() and (folder / f"{particle}_40-250GeV.root").exists()
    assert len(list((folder / "scan").glob("gamma_*GeV.h5"))) == 6


def test_source_notebooks_are_clean_and_parameterised():
    for stage in STAGES:
        notebook = json.loads(stage.notebook.read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), stage.notebook
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), stage.notebook


@pytest.fixture(scope="module")
def rendered_book(smoke_run):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    pipeline, _ = smoke_run
    site = pipeline.book_dir.parent  # the smoke run wrote book/<study>/*.ipynb here
    written_pages = [str(p.relative_to(ROOT)) for p in (ROOT / "book").glob("*.md")]  # intro, your own files
    for name in ("_config.yml", "_toc.yml", *written_pages):
        shutil.copy(ROOT / name, site / name)
    for folder in ("book/_ext", "book/_static"):
        shutil.copytree(ROOT / folder, site / folder, dirs_exist_ok=True)
    # a failed stage's executed copy, kept for its user under book/.pipeline, is never a page (its links would
    # be warnings: a book build after a failure stopped there)
    failed = pipeline.state_dir / "failed" / "results" / "results.ipynb"
    failed.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(pipeline.output_notebook(next(s for s in STAGES if s.id == "results/results")), failed)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", "--warningiserror", "--keep-going", str(site)],
                            capture_output=True, text=True)
    return pipeline, site, result


def test_book_renders_with_warnings_as_errors(rendered_book):
    pipeline, site, result = rendered_book
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in (s for s in STAGES if "smoke" in s.profiles):  # the others' pages name the profiles that make them
        page = site / "_build/html" / pipeline.output_notebook(stage).relative_to(site).with_suffix(".html")
        html = page.read_text()
        assert "<img" in html or "<table" in html, page


def _shown_outputs(notebook):
    """The outputs a finished page shows: those of code cells not tagged to be removed."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and not {"remove-cell", "remove-output"} & set(cell.metadata.get("tags", [])):
            yield from cell.get("outputs", [])


def _straight(text):
    """Text with Sphinx's typographic quotes made plain again (it turns ' into ’)."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


def _phrase(text):
    """Four or more plain words in a row from an output's text, as a page's HTML shows them whatever
    the markup around them; None where the text has no such run."""
    words = re.sub(r"\]\([^)]*\)|[*`#]", " ", _straight(text)).split()
    run = []
    for word in words:
        run = run + [word] if re.fullmatch(r"[A-Za-z][A-Za-z'’-]*", word) else []
        if len(run) == 6:
            return " ".join(run)
    return " ".join(run) if len(run) >= 4 else None


def test_every_output_of_an_executed_page_reaches_its_html(rendered_book):
    """Page parity: every figure, table, computed sentence and printed line that a finished
    notebook shows is in its HTML page (MyST-NB drops a code cell whose source is blank, outputs
    and all: the headline block and the outputs after a figure were lost that way), and every page
    with headlines shows its "Measured on this run" block."""
    import html as html_text

    pipeline, site, _ = rendered_book
    lost = {}
    for stage in STAGES:
        notebook = nbformat.read(pipeline.output_notebook(stage), as_version=4)
        path = site / "_build/html" / pipeline.output_notebook(stage).relative_to(site).with_suffix(".html")
        page = path.read_text()
        text = " ".join(_straight(html_text.unescape(re.sub(r"<[^>]+>", " ", page))).split())
        outputs = list(_shown_outputs(notebook))
        missing = []
        images = sum("image/png" in o.get("data", {}) for o in outputs)
        tables = sum("<table" in o.get("data", {}).get("text/html", "") for o in outputs)
        if page.count("<img") < images:
            missing.append(f"{images - page.count('<img')} of {images} figures")
        if page.count("<table") < tables:
            missing.append(f"{tables - page.count('<table')} of {tables} tables")
        for output in outputs:
            shown = output.get("data", {}).get("text/markdown") or (output.get("text") if output.get("name") == "stdout"
                                                                     else None)
            phrase = _phrase(shown) if shown else None
            if phrase and phrase not in text:
                missing.append(phrase)
        if any(c.get("id") == "page-headline" for c in notebook.cells) and "Measured on this run" not in text:
            missing.append("the Measured on this run block")
        if missing:
            lost[stage.id] = missing
    assert not lost, lost


CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it
#: Without the background-networking flags Chromium keeps trying hosts this sandbox cannot reach.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
PAGE_CHECKS = """() => ({
    images: Array.from(document.images).map(i => [i.getAttribute('src').slice(0, 60),
                                                  i.complete && i.naturalWidth > 0]),
    errors: document.querySelectorAll('.cell_output .traceback, .cell_output .output.error, .output.stderr.error')
        .length,
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
})"""


def test_the_published_book_in_a_headless_browser(rendered_book):
    """Every page of the book loads in Chromium, every figure decodes, no cell shows an
    error, and no internal link points to a missing page or anchor."""
    from pathlib import Path
    from urllib.parse import unquote, urlsplit

    from playwright.sync_api import sync_playwright

    pipeline, site, result = rendered_book
    assert result.returncode == 0, "the book did not build"
    assert Path(CHROMIUM).exists(), "Chromium is missing: apt-get install chromium (.ci/run does it)"
    html = site / "_build/html"
    pages = [html / "book" / f"{p.stem}.html" for p in sorted((ROOT / "book").glob("*.md"))] + \
            [html / pipeline.output_notebook(s).relative_to(site).with_suffix(".html") for s in STAGES]
    problems, anchors, targets = [], {}, []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        script_errors = []
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        for path in pages:
            response = page.goto(path.as_uri(), wait_until="load")
            if response is None or not response.ok:
                problems.append(f"{path.name}: did not load")
                continue
            found = page.evaluate(PAGE_CHECKS)
            problems += [f"{path.name}: image {src} does not decode" for src, ok in found["images"] if not ok]
            if found["errors"]:
                problems.append(f"{path.name}: {found['errors']} cell(s) show an error")
            anchors[path.resolve()] = set(found["ids"])
            for href in found["links"]:
                parts = urlsplit(href)
                if parts.scheme or href.startswith(("mailto:", "javascript:")):
                    continue  # external
                target = (path.parent / unquote(parts.path)).resolve() if parts.path else path.resolve()
                targets.append((path.name, href, target, parts.fragment))
        browser.close()
    problems += [f"script error: {e}" for e in script_errors]
    for name, href, target, fragment in targets:
        if not target.exists():
            problems.append(f"{name}: link {href} points to a missing file")
        elif fragment and target in anchors and fragment not in anchors[target]:
            problems.append(f"{name}: link {href} points to a missing anchor")
    assert not problems, "\n".join(problems[:30])


#: What a reader sees on a page, measured in the browser (CSS pixels).
READER_CHECKS = """() => {
    const shown = e => e.getClientRects().length > 0;
    const article = document.querySelector('article') || document.body;
    const right = article.getBoundingClientRect().right;
    const scrolls = e => { for (let a = e.parentElement; a && a !== article; a = a.parentElement) {
        const x = getComputedStyle(a).overflowX; if (x === 'auto' || x === 'scroll') return true; } return false; };
    return {
        code: Array.from(document.querySelectorAll('.cell_input'))  // folded code has no rendered text
              .filter(e => e.innerText.trim() && !e.closest('.tag_show-input')).map(e => e.innerText.slice(0, 60)),
        overflow: Array.from(article.querySelectorAll('table, img, pre, .cell_output > div'))
              .filter(e => shown(e) && !scrolls(e) && e.getBoundingClientRect().right >
                           (e.closest('.tag_full-width') ? document.documentElement.clientWidth : right) + 2)
              .map(e => e.tagName + ' ' + (e.innerText || e.getAttribute('alt') || '').slice(0, 40)),
        page_width: [document.documentElement.scrollWidth, window.innerWidth],
        scrolled_tables: Array.from(article.querySelectorAll('.table-scroll'))  // a folded table is one click away
              .filter(e => shown(e) && !e.closest('.tag_hide-output') && e.scrollWidth > e.clientWidth + 1)
              .map(e => e.innerText.replace(/\\s+/g, ' ').trim().slice(0, 50)),
        images: Array.from(article.querySelectorAll('.cell_output img')).map(i => ({
              shown: i.getClientRects().length ? i.getBoundingClientRect().width : 0, natural: i.naturalWidth,
              panels: i.classList.contains('several-panels'), alt: i.getAttribute('alt') || '',
              caption: !!(i.closest('figure') && i.closest('figure').querySelector('figcaption')),
              // read as the body's text: its colour, and not a light weight
              caption_reads_as_text: (() => { const c = i.closest('figure') && i.closest('figure').querySelector(
                  'figcaption p, figcaption'); const body = article.querySelector('section > p');
                  if (!c || !body) return true; const s = getComputedStyle(c);
                  return s.color === getComputedStyle(body).color && parseInt(s.fontWeight) >= 400; })()})),
        nan: /\bNaN\b/.test(article.innerText),
        headline_top: (() => { const e = Array.from(article.querySelectorAll('p, strong'))
              .find(x => x.innerText.trim().startsWith('Measured on this run'));
              return e ? e.getBoundingClientRect().top : null; })(),
        remote_mathjax: Array.from(document.scripts).some(s => /^https?:.*mathjax/i.test(s.src)),
        sections: Array.from(article.querySelectorAll('section section')).map(s => ({
              id: s.id, chapters: Array.from(s.querySelectorAll('a.reference.internal'))
                                        .map(a => a.getAttribute('href')).filter(h => h && !h.startsWith('#'))})),
    };
}"""
#: The smallest share of its drawn width (100 px an inch) at which a figure may be shown at
#: 1366 px: its 12-point labels then stay at 10 px or more and its panels, drawn 300 px and
#: wider, near that size. A folded figure (not shown until a click) is not measured.
SMALLEST_SHOWN_SHARE = 0.6


def test_a_reader_sees_results_with_code_folded_and_every_figure_and_table_readable(rendered_book):
    """At 1366 px and on a 390 px phone: no code shown unless a page opts in, nothing wider than the
    page (a wide table scrolls in its own box), every figure captioned and shown at nearly its
    drawn size at 1366 px (on the phone too where its panels stand side by side, in a box that
    scrolls sideways), every figure's smallest text at least LEGIBLE_TEXT_PX high as shown at
    either width (the height its kernel drew it at, scaled by the width it is shown at), no NaN,
    MathJax from the book itself, each section of the results page linked to its chapter and its
    tables whole without a sideways scroll, each figure's alt text saying what it shows, its
    caption in the text's colour and weight, and each page's "Measured on this run" block in its
    first screen. Screenshots of the results page and one chapter per study at both widths go to
    _build/screenshots/ for a reader of the change."""
    from playwright.sync_api import sync_playwright

    pipeline, site, result = rendered_book
    assert result.returncode == 0, "the book did not build"
    html = site / "_build/html"
    pages = [html / pipeline.output_notebook(s).relative_to(site).with_suffix(".html") for s in STAGES]
    screenshots = ROOT / "_build/screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    shot = {"results/results", "detector/resolution", "photon_jets/compare/axion1", "photon_id/template_fit",
            "shashlik/compare", "ldmx/unseen_masses", "lartpc/train"}
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for width, height in ((1366, 900), (390, 844)):
            page = browser.new_page(viewport={"width": width, "height": height})
            for stage, path in zip(STAGES, pages):
                page.goto(path.as_uri(), wait_until="load")
                found = page.evaluate(READER_CHECKS)
                where = f"{path.parent.name}/{path.name} at {width} px"
                problems += [f"{where}: code shown: {c!r}" for c in found["code"]]
                problems += [f"{where}: wider than the page: {o}" for o in found["overflow"]]
                if found["page_width"][0] > found["page_width"][1] + 1:
                    problems.append(f"{where}: the page scrolls sideways ({found['page_width']})")
                if found["nan"]:
                    problems.append(f"{where}: NaN shown")
                if found["remote_mathjax"]:
                    problems.append(f"{where}: MathJax from the network (equations need it offline)")
                headlined = any(c.get("id") == "page-headline" for c in
                                nbformat.read(pipeline.output_notebook(stage), as_version=4).cells)
                if headlined and (found["headline_top"] is None or found["headline_top"] > height):
                    problems.append(f"{where}: the 'Measured on this run' block is not in the first screen")
                fonts = [o.get("metadata", {}).get("image/png", {}).get(SMALLEST_FONT_KEY)
                         for o in _shown_outputs(nbformat.read(pipeline.output_notebook(stage), as_version=4))
                         if "image/png" in o.get("data", {})]
                if len(fonts) != len(found["images"]):
                    problems.append(f"{where}: {len(found['images'])} figures shown, {len(fonts)} in its notebook")
                    fonts = [None] * len(found["images"])
                for image, font_px in zip(found["images"], fonts):
                    if font_px is None:
                        problems.append(f"{where}: a figure that does not say its smallest text size")
                    # on a phone the finisher keeps a figure at its drawn size where it would shrink its
                    # text below legibility; at 1366 px the style draws text to stay legible full-width
                    elif image["shown"] and font_px * image["shown"] / image["natural"] < LEGIBLE_TEXT_PX:
                        problems.append(f"{where}: a figure drawn {image['natural']} px wide, shown at "
                                        f"{image['shown']:.0f} px: its smallest text "
                                        f"{font_px * image['shown'] / image['natural']:.1f} px high")
                for image in found["images"]:
                    if not image["caption"]:
                        problems.append(f"{where}: a figure without a caption")
                    elif not image["caption_reads_as_text"]:
                        problems.append(f"{where}: a caption in another colour or a light weight than the text")
                    if not image["alt"].strip() or image["alt"].endswith((".png", ".jpg", ".svg")):
                        problems.append(f"{where}: a figure whose alt text is {image['alt']!r}, not what it shows")
                    measured = width == 1366 or image["panels"]  # on a phone, panels side by side keep their size
                    if measured and image["shown"] and image["shown"] < SMALLEST_SHOWN_SHARE * image["natural"]:
                        problems.append(f"{where}: a figure drawn {image['natural']} px wide shown at "
                                        f"{image['shown']:.0f} px")
                if stage.id == "results/results":
                    problems += [f"{where}: section {s['id']} links to no chapter" for s in found["sections"]
                                 if not s["chapters"] and s["id"] != "reproduce-this-page"]
                    # read at a glance: every column of a results table beside its row labels, at both widths
                    problems += [f"{where}: a table scrolls sideways: {t!r}" for t in found["scrolled_tables"]]
                if stage.id in shot:
                    page.screenshot(path=str(screenshots / f"{stage.id.replace('/', '-')}-{width}px.png"),
                                    full_page=True)
            page.close()
        browser.close()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])


def test_published_pages_are_clean(smoke_run):
    """What a reader of the book sees: no stderr warnings, no folder of the machine that
    built it, a title naming each task or variant, and the results page without code."""
    pipeline, _ = smoke_run
    machine = (str(ROOT), str(pipeline.data_dir.parent))
    titles = {}
    for stage in STAGES:
        notebook = nbformat.read(pipeline.output_notebook(stage), as_version=4)
        shown = [c for c in notebook.cells if "remove-cell" not in c.metadata.get("tags", [])]
        for cell in shown:
            outputs = [o for o in cell.get("outputs", [])]
            assert not [o for o in outputs if o.get("name") == "stderr"], (stage.id, outputs)
            text = cell.source + json.dumps(outputs)
            assert not any(folder in text for folder in machine), (stage.id, cell.source[:80])
        assert not any(folder in json.dumps(notebook.metadata) for folder in machine), stage.id
        titles[stage.id] = next(c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown")
        if stage.id == "results/results":
            assert all("remove-input" in c.metadata.get("tags", []) for c in shown if c.cell_type == "code")
    assert len(set(titles.values())) == len(titles), "two pages share a title"


# -- notebooks run by hand, from any folder -----------------------------------------------
def _files_below(folder, skip=(".venv", ".git", "__pycache__", ".pytest_cache", ".ipynb_checkpoints")):
    return {p for p in Path(folder).rglob("*") if p.is_file() and not set(p.relative_to(folder).parts) & set(skip)}


def test_every_path_default_of_a_notebook_names_the_repository():
    """A relative default would be read from the notebook's folder in JupyterLab but from
    the caller's folder under papermill: every path default starts with {repository}/
    and the notebook resolves it through the library before using it."""
    from analysis_lib.pipeline import notebook_parameters

    for notebook in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        paths = {k: v for k, v in notebook_parameters(notebook).items() if isinstance(v, str) and "/" in v}
        assert all(v.startswith("{repository}/") for v in paths.values()), (notebook.name, paths)
        if paths:
            code = "".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
            assert f"{', '.join(paths)} = in_repository({', '.join(paths)})" in code, notebook.name


def test_a_default_path_is_the_repositorys_from_any_working_folder(tmp_path):
    """Run from a folder two levels below one holding a decoy data/book/atlas_ecal (where
    the old '../../data/book' defaults pointed), a notebook reads the repository's files,
    never the decoy."""
    import subprocess
    import sys

    decoy = tmp_path / "data" / "book" / "atlas_ecal"
    decoy.mkdir(parents=True)
    for particle in ("gamma", "pi0", "axion1", "scalar1", "axion2"):
        (decoy / f"{particle}_40-250GeV.h5").write_text("not a shower file")
    elsewhere = tmp_path / "a" / "b"
    elsewhere.mkdir(parents=True)
    run = subprocess.run([str(Path(sys.executable).with_name("papermill")),
                          str(ROOT / "notebooks/detector/04_images.ipynb"),
                          "out.ipynb", "-p", "n_average", "20", "--no-progress-bar"],
                         cwd=elsewhere, capture_output=True, text=True)
    assert "not a shower file" not in run.stderr and str(decoy) not in run.stderr
    if run.returncode:  # no book built in this clone: the repository's own file is missing, by its full path
        assert f"no such file: {ROOT}/data/book/atlas_ecal/" in run.stderr, run.stderr[-2000:]
    assert _files_below(tmp_path) == set(decoy.iterdir()) | {elsewhere / "out.ipynb"}


@pytest.mark.parametrize("where", ["repository", "elsewhere"])
def test_the_readmes_papermill_command_writes_only_where_it_is_told(smoke_run, tmp_path, where):
    """The README's papermill line as written (from the repository root, and with full
    paths from another folder), pointed at the smoke run's data: the executed notebook
    appears where it was named and nothing else is written, in the repository or beside it."""
    import re
    import shlex
    import subprocess

    pipeline, _ = smoke_run
    line = next(text for text in (ROOT / "README.md").read_text().splitlines()
                if text.startswith(".venv/bin/papermill "))
    command = shlex.split(line.split("#")[0])
    command += ["-p", "data_dir", str(pipeline.data_dir / "atlas_ecal"), "-p", "ideal_events", "300",
                "--no-progress-bar"]
    cwd = ROOT if where == "repository" else tmp_path / "a" / "b"
    cwd.mkdir(parents=True, exist_ok=True)
    if where == "elsewhere":
        command = [str(ROOT / c) if re.match(r"(\.venv|notebooks)/", c) else c for c in command]
    output = cwd / command[2]
    two_up = cwd.parent.parent / "data"  # where the notebooks' old relative defaults pointed
    before, two_up_existed = _files_below(ROOT), two_up.exists()
    try:
        run = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-3000:]
        assert output.is_file()
        assert _files_below(ROOT) - {output} == before
        assert two_up.exists() == two_up_existed
        if where == "elsewhere":
            assert _files_below(tmp_path) == {output}
    finally:
        output.unlink(missing_ok=True)


# -- a page's text is bound to its run ------------------------------------------------------
def test_every_number_in_a_pages_text_is_computed_or_cited(smoke_run):
    """Markdown cells hold no measured number: each number there is a citation or a
    constant the notebook declares with its source; measurements come from code cells.
    No text or output speaks of numbers from outside the build."""
    from .page_text import outside_phrases, unbound_numbers

    pipeline, _ = smoke_run
    problems = {}
    for stage in STAGES:
        notebook = nbformat.read(pipeline.output_notebook(stage), as_version=4)
        found = unbound_numbers(notebook) + [f"phrase: {p}" for p in outside_phrases(notebook)]
        if found:
            problems[stage.id] = found
    assert not problems, problems


def test_the_checker_finds_a_hand_written_measurement_and_passes_a_cited_constant():
    from nbformat.v4 import new_markdown_cell, new_notebook

    from .page_text import outside_phrases, unbound_numbers

    notebook = new_notebook(cells=[new_markdown_cell(
        "The BDT rejects 318 ± 73 at 90 % (Table 2 of arXiv 2401.15690), `n_epochs = 12`, measured outside the book.")])
    assert unbound_numbers(notebook) == ["318", "73", "90"]
    notebook.metadata["analysis_lib"] = {"cited": {"90": "the working point of Table 2"}}
    assert unbound_numbers(notebook) == ["318", "73"]
    assert outside_phrases(notebook) == ["outside the book"]


@pytest.mark.parametrize("tolerance, holds", [(1.0, True), (0.0, False)])
def test_a_claim_that_fails_changes_the_pages_words_and_is_listed(smoke_run, tmp_path, tolerance, holds):
    """The resolution page's flatness claim, forced either way through its parameter: the
    page says what was measured, and the run's summary names the claim that did not hold."""
    import shutil

    from analysis_lib.pipeline import summary_table

    pipeline, _ = smoke_run
    folder = shutil.copytree(pipeline.data_dir / "atlas_ecal" / "scan", tmp_path / "user" / "scan")
    stage = next(s for s in STAGES if s.id == "detector/resolution")
    run = Pipeline([stage], profile="smoke", root=ROOT, data_dir=tmp_path / "data", book_dir=tmp_path / "book",
                   overrides={"data_dir": str(folder.parent), "linearity_tolerance": tolerance},
                   log=lambda message: None)
    results = run.run()
    assert [r.status for r in results] == ["ran"], results[0].message
    page = nbformat.read(run.output_notebook(stage), as_version=4)
    text = " ".join(o["data"]["text/markdown"] for c in page.cells for o in c.get("outputs", [])
                    if "text/markdown" in o.get("data", {}))
    assert ("not flat within" in text) is not holds and (f"flat within {tolerance:.1%} (a spread" in text) is holds
    assert results[0].claims[f"response flat within {tolerance:.1%}"] is holds
    assert (f"detector/resolution: response flat within {tolerance:.1%}" in summary_table(results)) is not holds


# -- verdicts a referee would sign ------------------------------------------------------------
_VALUE_AND_ERROR = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)")
#: A negation of a quantifier over errors, which a reader takes the other way ("does not fall ... by more
#: than two errors for every model" beside three models falling by five).
_NEGATED_VERDICT = re.compile(r"\b(?:not|no)\b[^.;:]{0,80}\bby (?:more than )?(?:two|three) (?:combined )?errors",
                              re.IGNORECASE)


def _computed_text(notebook):
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                yield output["text"]
            elif "text/markdown" in output.get("data", {}):
                yield output["data"]["text/markdown"]


def test_no_rejection_reads_n_plus_minus_n_and_no_verdict_is_a_negated_quantifier(smoke_run):
    """A rejection whose error reaches half of itself is shown as its asymmetric interval, so no
    table of rejections reads "6000 ± 6000"; and no computed sentence words a verdict as the
    negation of one ("not ... by more than two errors")."""
    pipeline, _ = smoke_run
    tables = sorted(Path(pipeline.data_dir).glob("photon_jets/*/compare/headline.csv"))
    assert tables
    wide = [f"{path.parent.parent.name}: {cell}" for path in tables for cell in path.read_text().split(",")
            for value, error in _VALUE_AND_ERROR.findall(cell) if float(error) >= 0.5 * float(value)]
    assert not wide, wide
    negated = {stage.id: found for stage in STAGES
               for found in [[m.group(0) for text in _computed_text(nbformat.read(pipeline.output_notebook(stage),
                                                                                  as_version=4))
                              for m in _NEGATED_VERDICT.finditer(text)]] if found}
    assert not negated, negated


def test_both_sentences_of_every_claim_are_worded_as_measurements(smoke_run):
    """Every claim of every page, in both its branches (the one this run shows and the one it
    would show had the check gone the other way, both computed from this run's numbers):
    two different sentences, each stating a number, none a NaN, none a verdict worded as a
    negated one. One smoke run so checks the wording of every inline claim either way."""
    from analysis_lib.reporting import read_claim_sentences, read_claims

    pipeline, _ = smoke_run
    problems, decided = [], 0
    for stage in STAGES:
        page = pipeline.output_notebook(stage)
        sentences = read_claim_sentences(page)
        assert sentences.keys() == read_claims(page).keys(), stage.id
        for name, branches in sentences.items():
            decided += 1
            if branches[0].strip() == branches[1].strip():
                problems.append(f"{stage.id}: {name!r} says the same either way")
            for branch, text in zip(("holds", "does not hold"), branches):
                where = f"{stage.id}: {name!r} where it {branch}"
                if not re.search(r"\d", text):
                    problems.append(f"{where} states no number: {text[:100]!r}")
                if re.search(r"\bnan\b", text, flags=re.IGNORECASE):
                    problems.append(f"{where} shows a NaN")
                problems += [f"{where}: {m.group(0)!r}" for m in _NEGATED_VERDICT.finditer(text)]
    assert decided >= 40, decided  # every page's claims were read
    assert not problems, "\n".join(problems)


def test_the_checks_of_wording_and_intervals_can_fail():
    assert _NEGATED_VERDICT.search("The efficiency does not fall with energy by more than two errors for every model")
    assert not _NEGATED_VERDICT.search("three of four models lose efficiency by more than two errors")
    assert [float(e) >= 0.5 * float(v) for v, e in _VALUE_AND_ERROR.findall("6000 ± 6000; 23.1 ± 2.3")] == [True, False]
