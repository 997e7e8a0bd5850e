"""The website as a reader sees it, in Chromium: pages, links, navigation, search,
math, figures, launch buttons, run-time notes and screenshots.

Expected values come from the sources (_toc.yml, _config.yml, the notebooks,
reports/chapters.csv), never from the built pages themselves.
"""

from __future__ import annotations

import csv
import html.parser
import json
import os
import re
import struct
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import nbformat
import pytest
import yaml

from browsing import COLLECT, ROOT, SCREENSHOTS, VIEWPORT, is_loopback, page_path, toc_docnames, visit

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
DOCNAMES = toc_docnames()
ROOT_DOC, CHAPTERS = DOCNAMES[0], DOCNAMES[1:]
NOTEBOOKS = [name for name in DOCNAMES if (ROOT / f"{name}.ipynb").is_file()]


def test_toc_lists_pages_and_the_tour_is_a_notebook_chapter():
    # guards the tests below against passing on an empty or misread table of contents
    assert ROOT_DOC == "book/index"
    assert "book/tour" in NOTEBOOKS and len(CHAPTERS) >= 3


# -- every page loads cleanly, with no help from the internet -----------------------------

def test_every_page_loads_with_no_console_error_and_no_failed_request(crawl, browser):
    problems = []
    for name, page in crawl.items():
        if page.status != 200:
            problems.append(f"{name}: HTTP {page.status}")
        problems += [f"{name}: console error: {text}" for text in page.console_errors]
        problems += [f"{name}: JavaScript error: {text}" for text in page.page_errors]
    problems += [f"{page}: request failed: {url} ({why})" for page, url, why in browser.network.failed]
    assert not problems, "\n".join(problems)


def test_pages_make_no_request_outside_this_machine(crawl, browser):
    # every non-loopback request was aborted by the test (conftest.browser); the site
    # must not even attempt one: no CDN for MathJax, fonts, thebe or anything else
    attempted = sorted({f"{page} -> {url}" for page, url in browser.network.external})
    assert not attempted, "external requests attempted:\n" + "\n".join(attempted)
    for name, page in crawl.items():
        outside = [src for src in page.scripts if not is_loopback(src)]
        assert not outside, f"{name} loads scripts from outside: {outside}"


# -- links, anchors, table of contents, previous/next, search -----------------------------

class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.ids.add(value)


def _fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            return response.status, response.headers.get_content_type(), body.decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, "", ""


def test_every_internal_link_and_anchor_resolves(crawl, site_url):
    # target page -> {fragment: the first page that links to it}
    targets: dict[str, dict[str, str]] = defaultdict(dict)
    for name, page in crawl.items():
        for link in page.links:
            if link.startswith(site_url):
                url, fragment = urldefrag(link)
                targets[url].setdefault(unquote(fragment), name)
    assert len(targets) >= len(crawl), "the pages link to fewer pages than the table of contents has"
    visited = {page.url: page for page in crawl.values()}
    problems = []
    for url, fragments in sorted(targets.items()):
        status, kind, body = _fetch(url)
        if status != 200:
            problems.append(f"{url} (linked from {sorted(set(fragments.values()))}): HTTP {status}")
            continue
        if kind != "text/html":
            continue
        bare = url.split("?")[0]
        if bare in visited:
            ids = visited[bare].ids
        else:
            parser = _Ids()
            parser.feed(body)
            ids = parser.ids
        problems += [f"{url}#{fragment} (linked from {source}): no element with that id"
                     for fragment, source in sorted(fragments.items()) if fragment and fragment not in ids]
    assert not problems, "\n".join(problems)


def test_sidebar_lists_every_chapter_on_every_page(crawl, site_url):
    for name, page in crawl.items():
        listed = {page_path(href, site_url) for href in page.sidebar}
        missing = [f"{chapter}.html" for chapter in CHAPTERS if f"{chapter}.html" not in listed]
        assert not missing, f"the sidebar of {name} lacks {missing}"


def test_previous_and_next_follow_the_table_of_contents(crawl, site_url):
    pages = [crawl[name] for name in DOCNAMES]
    assert pages[0].previous is None
    assert pages[-1].next is None
    for before, after in zip(pages, pages[1:]):
        assert before.next and page_path(before.next, site_url) == f"{after.docname}.html", before.docname
        assert after.previous and page_path(after.previous, site_url) == f"{before.docname}.html", after.docname


def test_clicking_next_and_previous_moves_through_the_book(browser, site_url):
    page = browser.context.new_page()
    browser.network.current = site_url + f"{ROOT_DOC}.html"
    try:
        page.goto(site_url + f"{ROOT_DOC}.html")
        page.click("a.right-next")
        page.wait_for_load_state()
        assert page_path(page.url, site_url) == f"{CHAPTERS[0]}.html"
        page.click("a.left-prev")
        page.wait_for_load_state()
        assert page_path(page.url, site_url) == f"{ROOT_DOC}.html"
    finally:
        page.close()


def _chapter_titled(crawl, words: str) -> str | None:
    for name, page in crawl.items():
        if words.lower() in page.title.split(" — ")[0].lower():
            return name
    return None


# (query, words in the title of the chapter that must be among the results);
# a row whose chapter is not in the table of contents yet is skipped
SEARCHES = [("tokenizer", "A first tour"), ("skip-gram", "Word2Vec")]


@pytest.mark.parametrize("query, title", SEARCHES)
def test_search_finds_the_chapter(crawl, browser, site_url, query, title):
    expected = _chapter_titled(crawl, title)
    if expected is None:
        pytest.skip(f"no chapter titled {title!r} in _toc.yml yet")
    page = browser.context.new_page()
    browser.network.current = site_url + f"search.html?q={query}"
    try:
        page.goto(site_url + f"search.html?q={query}")
        page.wait_for_function(
            "() => { const s = document.querySelector('#search-results .search-summary');"
            " return s && s.innerText.trim().length > 0 && !document.querySelector('#search-progress')?.innerText; }"
        )
        found = page.eval_on_selector_all("#search-results ul.search li a", "links => links.map(a => a.href)")
    finally:
        page.close()
    paths = [page_path(href, site_url) for href in found]
    assert f"{expected}.html" in paths, f"searching {query!r} found {paths}"


# -- math, figures -------------------------------------------------------------------------

def test_math_renders_with_the_local_mathjax(crawl, browser):
    tour = crawl["book/tour"]
    assert tour.math > 0, "the tour chapter has no math to render"
    assert tour.equations > 0, "MathJax rendered no equation (mjx-container) on book/tour.html"
    local = [src for src in tour.scripts if "/_static/mathjax/tex-mml-chtml.js" in src]
    assert local and all(is_loopback(src) for src in local)
    assert not [url for _, url in browser.network.external if "mathjax" in url.lower()]
    for name, page in crawl.items():
        assert page.math_errors == 0, f"{name}: MathJax reported {page.math_errors} errors"
        assert page.equations >= page.math, f"{name}: {page.math} math elements, {page.equations} rendered"


def _stored_images(name: str) -> int:
    notebook = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    return sum(
        1
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if any(kind.startswith("image/") for kind in output.get("data", {}))
    )


def test_figures_are_present_and_not_empty(crawl):
    assert _stored_images("book/tour") > 0, "the tour chapter stores no figure: nothing to check"
    problems = []
    for name, page in crawl.items():
        for image in page.images:
            if not image["complete"] or image["width"] <= 100 or image["height"] <= 100:
                problems.append(f"{name}: {image['src']} is {image['width']}x{image['height']}")
        if name in NOTEBOOKS and page.figures < _stored_images(name):
            problems.append(f"{name}: the notebook stores {_stored_images(name)} images, the page shows {page.figures}")
    assert not problems, "\n".join(problems)


def test_no_progress_bar_is_rendered(crawl):
    # companion.setup() turns tqdm off; a bar left in a stored output would show here
    shown = {name: page.progress_bars for name, page in crawl.items() if page.progress_bars}
    assert not shown, shown


# -- launch buttons ------------------------------------------------------------------------

def test_binder_launch_opens_jupyterlab_on_the_chapter(crawl):
    repository = CONFIG["repository"]
    org_repo = urlsplit(repository["url"]).path.strip("/")
    branch = repository.get("branch", "main")
    book = (repository.get("path_to_book") or "").strip("/")
    binder = CONFIG["launch_buttons"]["binderhub_url"].rstrip("/")
    assert CONFIG["launch_buttons"]["notebook_interface"] == "jupyterlab"
    assert NOTEBOOKS
    for name in NOTEBOOKS:
        path = "/".join(part for part in (book, f"{name}.ipynb") if part)
        expected = f"{binder}/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/{path}"
        launch = crawl[name].launch
        assert expected in launch, f"{name}: launch buttons {launch}, expected {expected}"
        wrong = [url for url in launch if org_repo not in url or path not in url]
        assert not wrong, f"{name}: launch buttons that point elsewhere: {wrong}"
        assert repository["url"] in crawl[name].repository


def test_preface_clone_command_and_the_budget_follow_the_sources(browser, site_url):
    # the preface and the landing page read the repository from _config.yml and the budget from
    # companion/profiling.py
    # (tools/site_substitutions.py); the built page must show the values, not the placeholders
    from companion.profiling import BUDGET_MIB, BUDGET_SECONDS

    url = CONFIG["repository"]["url"]
    page = browser.context.new_page()
    browser.network.current = site_url + "book/preface.html"
    try:
        page.goto(site_url + "book/preface.html", wait_until="load")
        blocks = page.locator("article pre").all_inner_texts()
        text = page.inner_text("article")
        page.goto(site_url + "book/index.html", wait_until="load")
        landing = page.inner_text("article")
    finally:
        page.close()
    assert f"{BUDGET_SECONDS} s and {BUDGET_MIB / 1024:g} GiB" in landing
    assert "{{" not in landing and "}}" not in landing, "a substitution was left unreplaced"
    clone = [block for block in blocks if "git clone" in block]
    assert len(clone) == 1, blocks
    lines = clone[0].splitlines()
    assert lines[:2] == [f"git clone {url}", f"cd {urlsplit(url).path.rstrip('/').split('/')[-1]}"], lines
    assert f"{BUDGET_SECONDS} s and {BUDGET_MIB} MiB" in text
    assert "{{" not in text and "}}" not in text, "a substitution was left unreplaced"


# -- code fits the page at 1280 px -------------------------------------------------------------

# Lines of code cells that scroll sideways at 1280 px, per page, as the test found them on
# 2026-12-07 (Chromium's monospace font on this machine). The list may only shrink: a line
# not on it fails the test, and so does a listed line that fits now (delete it from the file).
# `COMPANION_UPDATE_WIDE_CODE_LINES=1 make test-browser` rewrites the file from the built site:
# review its diff (it should only lose lines, or change those of code you changed).
KNOWN_WIDE_CODE_FILE = Path(__file__).with_name("known_wide_code_lines.json")
KNOWN_WIDE_CODE_LINES: dict[str, list[str]] = json.loads(KNOWN_WIDE_CODE_FILE.read_text())


def test_no_code_line_scrolls_sideways_at_1280_px_but_the_known_ones(crawl):
    assert VIEWPORT["width"] == 1280
    if os.environ.get("COMPANION_UPDATE_WIDE_CODE_LINES") == "1":  # after shortening lines, or re-running a chapter
        found = {name: page.wide_code_lines for name, page in crawl.items() if page.wide_code_lines}
        KNOWN_WIDE_CODE_FILE.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n")
        pytest.skip(f"rewrote {KNOWN_WIDE_CODE_FILE.name}: {sum(map(len, found.values()))} lines; review its diff")
    assert set(KNOWN_WIDE_CODE_LINES) <= set(crawl), set(KNOWN_WIDE_CODE_LINES) - set(crawl)
    problems = []
    for name, page in crawl.items():
        found, known = Counter(page.wide_code_lines), Counter(KNOWN_WIDE_CODE_LINES.get(name, []))
        problems += [f"{name}: scrolls at 1280 px: {line}" for line in (found - known).elements()]
        problems += [f"{name}: fits now, delete it from {KNOWN_WIDE_CODE_FILE.name}: {line}"
                     for line in (known - found).elements()]
    assert not problems, f"{len(problems)} lines:\n" + "\n".join(problems)


def test_wide_code_lines_are_found(browser, site_url):
    # proves that the measurement above sees a line too wide for its block, and only that line
    page = browser.context.new_page()
    browser.network.current = site_url + "book/tour.html"
    try:
        page.goto(site_url + "book/tour.html", wait_until="load")
        page.evaluate("async () => { await document.fonts.ready; }")
        page.evaluate("() => { const pre = document.querySelector('article .cell_input pre');"
                      " pre.textContent = 'short = 1\\n' + 'x'.repeat(300) + '\\n'; }")
        wide = page.evaluate(COLLECT)["wide_code_lines"]
    finally:
        page.close()
    assert "x" * 300 in wide and "short = 1" not in wide


# -- the run-time note ----------------------------------------------------------------------

NOTE = re.compile(r"This chapter runs in about (\d+) s and (\d+) MiB on a 2-core laptop CPU\.")


def _profile() -> dict[str, tuple[float, float]]:
    with (ROOT / "reports" / "chapters.csv").open(newline="") as handle:
        return {row["chapter"]: (float(row["wall_seconds"]), float(row["peak_rss_mib"]))
                for row in csv.DictReader(handle)}


def test_runtime_note_matches_the_profile_table(crawl):
    profile = _profile()
    assert "book/tour.ipynb" in profile, "reports/chapters.csv has no row for the tour (run `make profile`)"
    for name, page in crawl.items():
        source = next((f"{name}{ext}" for ext in (".ipynb", ".md") if (ROOT / f"{name}{ext}").is_file()), name)
        if source not in profile:
            assert page.runtime_notes == [], f"{name} is not in the profile table but shows {page.runtime_notes}"
            continue
        wall, rss = profile[source]
        assert len(page.runtime_notes) == 1, f"{name}: {page.runtime_notes}"
        match = NOTE.fullmatch(page.runtime_notes[0])
        assert match, page.runtime_notes[0]
        assert abs(int(match[1]) - wall) <= 0.5 or (wall < 1 and int(match[1]) == 1), (match[1], wall)
        assert abs(int(match[2]) - rss) <= 0.5, (match[2], rss)


# -- screenshots for review -----------------------------------------------------------------

def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("shot, address", [
    ("landing", ""),
    ("tour", "book/tour.html"),
    # a chapter scrolled to an architecture figure (companion.diagrams)
    ("architecture-figure", "book/attention-and-transformers.html#fig-transformer-blocks"),
])
def test_screenshot(browser, site_url, shot, address):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{shot}.png"
    page = browser.context.new_page()
    browser.network.current = site_url + address
    try:
        page.goto(site_url + address, wait_until="load")
        page.wait_for_load_state("networkidle")  # the landing page redirects to book/index.html
        page.evaluate("async () => { if (window.MathJax?.startup?.promise) await MathJax.startup.promise;"
                      " await document.fonts.ready; }")
        page.screenshot(path=str(path))
        if shot == "landing":
            assert page_path(page.url, site_url) == f"{ROOT_DOC}.html"
        if shot == "architecture-figure":  # the figure is drawn and in view
            figure = page.evaluate("""() => { const img = document.querySelector('#fig-transformer-blocks img');
                const box = img.getBoundingClientRect();
                return {width: img.naturalWidth, top: box.top, bottom: box.bottom, height: innerHeight}; }""")
            assert figure["width"] > 0, figure
            assert 0 <= figure["top"] < figure["height"] and figure["bottom"] > 0, f"the figure is not in view: {figure}"
        heading = page.inner_text("article h1")
    finally:
        page.close()
    assert heading.strip(), "the page shows no heading"
    assert _png_size(path) == (1280, 900)
    assert path.stat().st_size > 20_000, f"{path} is suspiciously small"


def test_visit_records_a_missing_page_as_a_failure(browser, site_url):
    # the checks above rely on `visit` seeing a 404: prove that it does
    before = len(browser.network.failed)
    page = visit(browser, site_url + "no-such-page.html")
    assert page.status == 404
    assert len(browser.network.failed) > before
    del browser.network.failed[before:]


# -- the interactive word map (companion.word_map) ------------------------------------------

def _word_map_pages() -> list[str]:
    """The notebook chapters whose stored outputs hold an interactive word map."""
    pages = []
    for name in NOTEBOOKS:
        notebook = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        if any('class="word-map"' in output.get("data", {}).get("text/html", "")
               for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])):
            pages.append(name)
    return pages


MAP_READY = ("() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].get_model_by_name('word-map-0')"
             " && Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('word-map-0')) !== null")

# the point of panel 0 farthest to the right (an outlier, so few others share its pixel), in the frame's pixels
RIGHTMOST_POINT = """() => {
  const doc = Bokeh.documents[0], source = doc.get_model_by_name('word-map-points-0');
  const view = Bokeh.index.find_one(doc.get_model_by_name('word-map-0'));
  const xs = source.data.x;
  let i = 0;
  for (let j = 1; j < xs.length; j++) if (xs[j] > xs[i]) i = j;
  const box = view.canvas_view.el.getBoundingClientRect();
  return {word: source.data.word[i], x: box.left + view.frame.x_scale.compute(xs[i]),
          y: box.top + view.frame.y_scale.compute(source.data.y[i])};
}"""

# what a search left in the document: per panel, the selected words, the labels and whether the view shows them
SEARCH_STATE = """() => {
  const doc = Bokeh.documents[0], panels = [];
  for (let p = 0; doc.get_model_by_name('word-map-' + p); p++) {
    const source = doc.get_model_by_name('word-map-points-' + p), fig = doc.get_model_by_name('word-map-' + p);
    const label = doc.get_model_by_name('word-map-labels-' + p);
    const i = source.selected.indices[0];
    panels.push({selected: source.selected.indices.map(j => source.data.word[j]),
                 neighbours: i === undefined ? [] : [...source.data.neighbours[i]].map(j => source.data.word[j]),
                 labels: label ? [...label.source.data.text] : null,
                 inside: source.selected.indices.every(j => fig.x_range.start < source.data.x[j] && source.data.x[j] < fig.x_range.end
                                                          && fig.y_range.start < source.data.y[j] && source.data.y[j] < fig.y_range.end),
                 zoomed: fig.x_range.end - fig.x_range.start < Math.max(...source.data.x) - Math.min(...source.data.x)});
  }
  return {panels, status: doc.get_model_by_name('word-search-status').text};
}"""


@pytest.fixture(scope="module")
def word_map_page(browser, site_url):
    """The first chapter with a word map, open in a tab, the map scrolled into view and drawn."""
    pages = _word_map_pages()
    assert pages, "no chapter stores an interactive word map (class=\"word-map\"): nothing to test"
    url = site_url + f"{pages[0]}.html"
    page = browser.context.new_page()
    browser.network.current = url
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    iframe = page.locator("iframe.word-map").first
    iframe.scroll_into_view_if_needed()
    frame = iframe.element_handle().content_frame()
    frame.wait_for_function(MAP_READY)
    yield page, frame, errors
    page.close()


def test_word_map_draws_its_panels_with_no_error_and_no_request_outside(word_map_page, browser):
    page, frame, errors = word_map_page
    assert frame.locator("canvas").count() >= 2, "the word map drew no canvas"
    assert frame.evaluate("() => Bokeh.documents[0].get_model_by_name('word-map-points-0').data.word.length") >= 1000
    assert not errors, errors
    assert not [url for visited, url in browser.network.external if visited == page.url], browser.network.external


def test_hovering_a_point_of_the_word_map_shows_its_word(word_map_page):
    page, frame, _ = word_map_page
    point = frame.evaluate(RIGHTMOST_POINT)
    box = page.locator("iframe.word-map").first.bounding_box()
    # the tooltip's rows live in a shadow root, which has_text reads (inner_text would not)
    tooltip = frame.locator(".bk-Tooltip").filter(has_text=point["word"]).filter(has_text="nearest").first
    assert not tooltip.is_visible(), "a tooltip with the word shows before the mouse is on the point"
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    tooltip.wait_for(state="visible")
    page.mouse.move(0, 0)


@pytest.mark.parametrize("word", ["oil"])
def test_searching_a_word_selects_labels_and_shows_it_and_its_neighbours(word_map_page, word):
    page, frame, _ = word_map_page
    search = frame.locator("input").first
    search.fill(word)
    frame.wait_for_function("() => Bokeh.documents[0].get_model_by_name('word-map-points-0').selected.indices.length > 0")
    state = frame.evaluate(SEARCH_STATE)
    assert len(state["panels"]) >= 2
    for panel in state["panels"]:
        assert panel["selected"][0] == word
        assert panel["selected"][1:] == panel["neighbours"] and len(panel["neighbours"]) >= 1
        assert panel["labels"] == panel["selected"]
        assert panel["inside"], f"the view does not show {word} and all its neighbours: {panel}"
        assert panel["zoomed"], f"the view did not zoom in on {word}"
    assert state["status"].startswith("found in")
    search.fill("zzzznotaword")
    frame.wait_for_function("() => Bokeh.documents[0].get_model_by_name('word-map-points-0').selected.indices.length == 0")
    assert "not among" in frame.evaluate(SEARCH_STATE)["status"]
    search.fill("")


def test_screenshot_of_the_word_map(word_map_page):
    page, frame, _ = word_map_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "word-map.png"
    frame.locator("input").first.fill("oil")
    frame.wait_for_function("() => Bokeh.documents[0].get_model_by_name('word-map-points-0').selected.indices.length > 0")
    page.locator("iframe.word-map").first.evaluate("el => el.scrollIntoView({block: 'center'})")
    frame.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")  # repainted
    page.screenshot(path=str(path))
    assert _png_size(path) == (1280, 900)
    assert path.stat().st_size > 20_000, f"{path} is suspiciously small"
