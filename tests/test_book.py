"""The built book, opened page by page in a headless browser.

``built_book`` builds the book once per test session with the very function behind
``python3 tasks.py book`` (``tasks.build_book``: ``jupyter-book build . --all --warningiserror
--keep-going``, with the pinned MathJax/widget JavaScript that ``tasks.py test`` has put in
``_vendor/`` -- the tests themselves download nothing). Then every page
listed in ``_toc.yml`` -- stub pages and notebooks alike -- is served by an ``http.server`` on
127.0.0.1 and opened in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by
selenium), which may only reach 127.0.0.1. Each page must have

* no errors (SEVERE entries) in the browser console;
* no request to any host but 127.0.0.1, and no ``<script src>``/``<link href>`` pointing off-site;
* its equations typeset by MathJax: ``mjx-container`` elements, no TeX errors, and no raw
  ``$$``, ``\\(`` or ``\\[`` left in the text outside code;
* on a notebook page: launch buttons for Colab and Binder when the repository's address is set
  (``tasks.py repository``), none otherwise; its figures loaded (``img`` with a non-zero natural
  width), none shown smaller than it was drawn unless the column is narrower; no live widget
  (with no kernel it would be a dead control: the book shows the precomputed HTML instead);
* every multiple-choice question answers when an option is clicked: that option's feedback
  appears (✓ for the right one, ✗ for the others) and no other's; its options do not overlap;
* every ``explore()`` figure switches: clicking another value of each control shows another
  precomputed image;
* at a 1280 px window nothing scrolls sideways: no code or output block, HTML table or display
  equation is wider than the page column. Printed output wraps at the column (``book.css``), so
  ``test_printed_tables_fit_the_page_column`` checks the notebooks' printed columns fit unwrapped.

A screenshot of each page is saved in ``_build/screenshots/``. Without Chromium these tests fail
and say how to install it; ``METALEARN_LITE_SKIP_BROWSER=1`` skips them instead.
"""
from __future__ import annotations

import base64
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
HTML = REPO_ROOT / "_build" / "html"
SCREENSHOTS = REPO_ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1280,1000",
    # The reader on a train: any host but the local server does not resolve. (Requests to other
    # hosts are also caught in the network log, even when they fail.)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
REPOSITORY = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell", "remove_output", "remove_cell"}
# Console errors that are not the book's:
KNOWN_CONSOLE_ERRORS = (
    # The browser asks every site for /favicon.ico by itself; the book does not have one.
    "/favicon.ico - Failed to load resource: the server responded with a status of 404",
)


# -- what the pages are -------------------------------------------------------------------------


def toc_pages() -> list[str]:
    """Every page in _toc.yml, in order (names without extension, e.g. 'chapters/03_1_gradient_based')."""
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries: list) -> None:
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections", []))
            walk(entry.get("chapters", []))

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return pages


@dataclass
class Page:
    name: str  # toc name, e.g. "chapters/04_1_maml"
    source: Path  # the .ipynb or .md it is built from
    images: int = 0  # image outputs shown on the page (notebooks)
    widget_views: int = 0  # widget outputs whose model is in the saved widget state (notebooks)

    @property
    def is_notebook(self) -> bool:
        return self.source.suffix == ".ipynb"


def page_info(name: str) -> Page:
    sources = [REPO_ROOT / f"{name}{suffix}" for suffix in (".ipynb", ".md")]
    existing = [s for s in sources if s.exists()]
    assert existing, f"_toc.yml lists {name}, but there is no {name}.ipynb or {name}.md"
    assert len(existing) == 1, (
        f"{name} has both a notebook and a stub page: delete the stub {name}.md now that {name}.ipynb exists"
    )
    page = Page(name, existing[0])
    if page.is_notebook:
        nb = json.loads(page.source.read_text(encoding="utf-8"))
        state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        for cell in nb.get("cells", []):
            tags = set(cell.get("metadata", {}).get("tags", []))
            if cell.get("cell_type") != "code" or tags & HIDDEN_OUTPUT_TAGS:
                continue
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if WIDGET_VIEW in data and data[WIDGET_VIEW].get("model_id") in state:
                    page.widget_views += 1
                elif any(t in data for t in IMAGE_TYPES):
                    page.images += 1
    return page


# -- fixtures ---------------------------------------------------------------------------------


def _load_tasks():
    spec = importlib.util.spec_from_file_location("metalearn_lite_tasks", REPO_ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def built_book(book_timings: dict) -> Path:
    """_build/html, freshly built by tasks.build_book (the same build as `python3 tasks.py book`)."""
    start = time.monotonic()
    try:
        code = _load_tasks().build_book(download=False)  # tests stay off the internet
    except SystemExit as error:  # _vendor/ is not there yet
        pytest.fail(str(error))
    book_timings["build_s"] = time.monotonic() - start
    if code != 0:
        pytest.fail(f"the book did not build (jupyter-book exit status {code}); its output is above")
    return HTML


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def site(built_book: Path):
    """Base URL (ending in '/') of the built book, served on 127.0.0.1 from a background thread."""
    handler = functools.partial(_SiteHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium under chromedriver, logging the console and the network."""
    if os.environ.get("METALEARN_LITE_SKIP_BROWSER") == "1":
        pytest.skip("METALEARN_LITE_SKIP_BROWSER=1")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found. Install Chromium and its driver (Debian/Ubuntu: "
            "`sudo apt-get install chromium chromium-driver`), point $CHROMIUM/$CHROMEDRIVER at them, "
            "or set METALEARN_LITE_SKIP_BROWSER=1 to skip the browser checks."
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="metalearn-lite-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # with the Service below, Selenium Manager downloads nothing
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- the checks -------------------------------------------------------------------------------

# Runs in the page once it has loaded: waits for MathJax to finish typesetting (when MathJax
# is on the page) and for `widgets` widget views to be rendered, then reports what is there.
INSPECT_PAGE = r"""
const [widgets, done] = arguments;
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
(async () => {
  let mathjax = null;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    mathjax = MathJax.version;
  }
  const rendered = () => Array.from(document.querySelectorAll('.widget-subarea'))
    .filter(area => area.querySelector('.jupyter-widgets')).length;
  for (let waited = 0; widgets > 0 && rendered() < widgets && waited < 30000; waited += 200) await sleep(200);
  const rawTex = [];  // text nodes (outside code) still holding TeX delimiters
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest('pre, code, script, style, textarea, mjx-container')
        && /\$\$|\\\(|\\\[/.test(node.textContent)) rawTex.push(node.textContent.trim().slice(0, 80));
  }
  const offsite = [];
  document.querySelectorAll('script[src], link[href]:not([rel~="canonical"]):not([rel~="alternate"])').forEach(e => {
    const url = new URL(e.getAttribute('src') || e.getAttribute('href'), document.baseURI);
    if (url.protocol.startsWith('http') && url.host !== location.host) offsite.push(url.href);
  });
  done({
    mathjax,
    mathElements: document.querySelectorAll('.math').length,
    mathUntypeset: Array.from(document.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container')).length,
    mjxContainers: document.querySelectorAll('mjx-container').length,
    texErrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error') || e.textContent),
    rawTex,
    images: Array.from(document.images).map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth,
                                                      output: !!img.closest('.cell_output')})),
    colab: document.querySelectorAll('a[href*="colab.research.google.com"]').length,
    binder: document.querySelectorAll('a[href*="mybinder.org"]').length,
    widgets: document.querySelectorAll('.jupyter-widgets').length,
    shrunk: Array.from(document.querySelectorAll('.cell_output img')).filter(img => img.offsetParent
      && img.naturalWidth > 0 && img.clientWidth < Math.min(img.naturalWidth, img.parentElement.clientWidth) - 2)
      .map(img => `${img.clientWidth} of ${img.naturalWidth} px`),
    offsite,
    // code, printed output, HTML tables and display equations wider than the column (they would
    // scroll sideways; printed output wraps, book.css)
    wide: [
      ...Array.from(document.querySelectorAll('.cell_input pre, .cell_output pre'))
        .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.closest('.cell_input') ? 'code' : 'output'} ${e.scrollWidth} px in ${e.clientWidth} px: `
                  + e.textContent.split('\n').reduce((a, b) => (b.length > a.length ? b : a), '').trim().slice(0, 60)),
      ...Array.from(document.querySelectorAll('mjx-container[display="true"]'))
        .filter(c => c.offsetParent && c.firstElementChild && c.firstElementChild.getBoundingClientRect().width > c.clientWidth + 1)
        .map(c => `equation ${Math.round(c.firstElementChild.getBoundingClientRect().width)} px in ${c.clientWidth} px`),
      ...Array.from(document.querySelectorAll('.cell_output .text_html'))
        .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1)
        .map(e => `HTML output ${e.scrollWidth} px in ${e.clientWidth} px: ${e.textContent.trim().slice(0, 60)}`),
    ],
  });
})().catch(error => done({error: String(error)}));
"""


# Clicks through every multiple-choice question and every explore() figure on the page.
INTERACT = r"""
const done = arguments[0];
const visible = e => !!e && getComputedStyle(e).display !== 'none';
const problems = [], counts = {questions: 0, explorers: 0};
document.querySelectorAll('.ml-mcq').forEach(q => {
  counts.questions++;
  const labels = Array.from(q.querySelectorAll('label'));
  const rects = labels.map(l => l.getBoundingClientRect());
  for (let i = 1; i < rects.length; i++)
    if (rects[i].top < rects[i - 1].bottom - 1) problems.push(`${q.id}: option ${i} overlaps option ${i - 1}`);
  labels.forEach((label, i) => {
    label.click();
    const shown = labels.map(l => visible(l.nextElementSibling));
    if (!shown[i] || shown.filter(x => x).length !== 1) problems.push(`${q.id}: clicking option ${i} shows ${shown}`);
  });
  const rights = labels.filter(l => l.nextElementSibling.classList.contains('ml-right'));
  if (rights.length !== 1) problems.push(`${q.id}: ${rights.length} right options`);
});
document.querySelectorAll('.ml-explore').forEach(x => {
  counts.explorers++;
  const shownImage = () => Array.from(x.querySelectorAll('img.ml-state')).filter(visible);
  if (shownImage().length !== 1) problems.push(`${x.id}: ${shownImage().length} images shown at first`);
  const groups = {};
  x.querySelectorAll('input.ml-choice').forEach(i => (groups[i.name] = groups[i.name] || []).push(i));
  Object.values(groups).forEach(inputs => {
    if (inputs.length < 2) return;
    const before = shownImage()[0];
    x.querySelector(`label[for="${inputs[inputs.length - 1].id}"]`).click();
    const after = shownImage();
    if (after.length !== 1 || after[0] === before || after[0].naturalWidth === 0)
      problems.push(`${x.id}: clicking ${inputs[inputs.length - 1].id} did not switch the image`);
    x.querySelector(`label[for="${inputs[0].id}"]`).click();
  });
});
done({problems, counts});
"""


def requested_urls(driver) -> list[str]:
    """URLs the page asked for since the last call (Chromium's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def save_screenshot(driver, path: Path, width: int = 1280, max_height: int = 16384) -> None:
    """The whole page, not just the window (long pages are cut at max_height): stretch the window, shoot."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height, 800), max_height))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(width, 1000)


def test_toc_sources_exist_once():
    """Each toc entry is one notebook or one stub page (the build stops on both, less clearly)."""
    for name in toc_pages():
        page_info(name)


def test_no_built_page_loads_from_other_sites(built_book: Path):
    """No HTML file of the site (search and index pages included) loads a script or stylesheet off-site."""
    tag = re.compile(r"<(script|link)\b[^>]*>", re.I)
    url = re.compile(r"""\s(?:src|href)=["']((?:https?:)?//[^"']+)""", re.I)
    offsite = {}
    for path in built_book.rglob("*.html"):
        for match in tag.finditer(path.read_text(encoding="utf-8")):
            found = url.search(match.group(0))
            if found and "canonical" not in match.group(0):
                offsite.setdefault(str(path.relative_to(built_book)), []).append(found.group(1))
    assert not offsite, f"pages load files from other sites: {offsite}"


@pytest.mark.parametrize("name", toc_pages())
def test_page_in_browser(name: str, site: str, browser, book_timings: dict):
    page = page_info(name)
    browser.get_log("browser")  # (reading a log empties it)
    browser.get_log("performance")
    start = time.monotonic()
    browser.get(site + f"{name}.html")
    seen = browser.execute_async_script(INSPECT_PAGE, 0)
    clicked = browser.execute_async_script(INTERACT)
    save_screenshot(browser, SCREENSHOTS / f"{name.replace('/', '__')}.png")
    book_timings.setdefault("pages_s", {})[name] = time.monotonic() - start

    problems = []
    if "error" in seen:
        problems.append(f"the page check itself failed: {seen['error']}")
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and not any(known in e["message"] for known in KNOWN_CONSOLE_ERRORS)]
    problems += [f"console error: {message}" for message in errors]
    offsite = [u for u in requested_urls(browser) if urlsplit(u).scheme in ("http", "https", "ws", "wss")
               and urlsplit(u).hostname != "127.0.0.1"]
    offsite += seen.get("offsite", [])
    problems += [f"request off the local site: {url}" for url in dict.fromkeys(offsite)]

    if seen.get("mathElements"):
        if not seen["mathjax"]:
            problems.append("the page has math but MathJax did not load")
        elif not seen["mathjax"].startswith("3."):
            problems.append(f"MathJax {seen['mathjax']} loaded, expected the vendored 3.x")
        if seen["mathUntypeset"] or not seen["mjxContainers"]:
            problems.append(f"{seen['mathUntypeset']} of {seen['mathElements']} equations not typeset by MathJax")
    if seen.get("texErrors"):
        problems.append(f"TeX errors: {seen['texErrors']}")
    if seen.get("rawTex"):
        problems.append(f"raw TeX ($$, \\(, \\[) left in the text: {seen['rawTex']}")

    broken = [img["src"] for img in seen.get("images", []) if img["width"] == 0]
    problems += [f"image did not load: {src}" for src in broken]
    if page.is_notebook:
        figures = sum(1 for img in seen.get("images", []) if img["output"] and img["width"] > 0)
        if figures < page.images:
            problems.append(f"{figures} of the notebook's {page.images} figures are shown")
        if REPOSITORY and not (seen.get("colab") and seen.get("binder")):
            problems.append(f"launch buttons missing (Colab links: {seen.get('colab')}, Binder: {seen.get('binder')})")
        if not REPOSITORY and (seen.get("colab") or seen.get("binder")):
            problems.append("launch buttons, but no repository address is set: they cannot work")
        if seen.get("widgets"):
            problems.append(f"{seen['widgets']} live widget elements: with no kernel they are dead controls")
        problems += [f"figure shown smaller than drawn: {size}" for size in seen.get("shrunk", [])]
    problems += [f"wider than the page column at 1280 px: {what}" for what in seen.get("wide", [])]
    problems += clicked["problems"]
    book_timings.setdefault("interactive", {})[name] = clicked["counts"]

    assert not problems, f"{name} ({page.source.name}):\n  " + "\n  ".join(problems)


#: characters of code or printed output that fit the page column at 1280 px (book.css: 0.8rem)
COLUMN_CHARACTERS = 92


def test_printed_tables_fit_the_page_column():
    """A printed line laid out in columns (two or more runs of 3+ spaces between words) must
    fit the column unwrapped: wrapped, its columns would no longer line up. Prose may wrap.
    Wider tables belong in ``ml.Table``, shown as an HTML table that fits."""
    too_wide = []
    for nb in sorted((REPO_ROOT / "chapters").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            for output in cell.get("outputs", []):
                if output.get("output_type") != "stream":
                    continue
                for line in "".join(output["text"]).splitlines():
                    if len(line) > COLUMN_CHARACTERS and len(re.findall(r"\S {3,}(?=\S)", line)) >= 2:
                        too_wide.append(f"{nb.name} cell {index}, {len(line)} characters: {line[:70]}")
    assert not too_wide, ("printed tables wider than the page column (make them narrower, or show "
                          "them with ml.Table):\n  " + "\n  ".join(too_wide))


#: the page column at a 1280 px window (book.css), in CSS pixels
COLUMN_PX = 724


def _png_widths(output: dict) -> list[int]:
    """Pixel widths of the PNG images in one output: a figure, or an explorer's precomputed states."""
    data = output.get("data", {})
    images = [data["image/png"]] if "image/png" in data else []
    images += re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", "".join(data.get("text/html", "")))
    widths = []
    for image in images:
        head = base64.b64decode("".join(image)[:64])
        widths.append(int.from_bytes(head[16:20], "big"))  # the IHDR chunk: width, height
    return widths


def test_figures_fit_the_page_column():
    """Drawn no wider than the column (6.4 in at 110 dpi), a figure is shown at the size it was
    drawn, so its fonts (8-9 pt) are read at that size: a wider one would be scaled down."""
    too_wide = []
    for nb in sorted((REPO_ROOT / "chapters").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            for output in cell.get("outputs", []):
                too_wide += [f"{nb.name} cell {index}: {w} px" for w in _png_widths(output) if w > COLUMN_PX]
    assert not too_wide, (f"figures wider than the {COLUMN_PX} px column (draw them at most 6.4 in "
                          "wide at 110 dpi):\n  " + "\n  ".join(too_wide))


def _outputs_with(marker: str) -> int:
    count = 0
    for nb in (REPO_ROOT / "chapters").glob("*.ipynb"):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                count += "".join(output.get("data", {}).get("text/html", "")).count(marker)
    return count


def test_every_question_and_figure_of_the_notebooks_was_clicked(book_timings: dict):
    """Runs after the page tests: each multiple-choice question and explore() figure was exercised."""
    seen = book_timings.get("interactive", {})
    assert len(seen) == len(toc_pages()), "run with the page tests (they record what they clicked)"
    assert sum(c["questions"] for c in seen.values()) == _outputs_with('<div class="ml-mcq"')
    assert sum(c["explorers"] for c in seen.values()) == _outputs_with('<div class="ml-explore"')


def test_no_stored_output_is_a_warning_or_an_error():
    """A stderr stream holds the kernel's temporary file name, which differs on every run, and a
    reader should not see warnings: the chapters' stored outputs have none."""
    found = []
    for nb in sorted((REPO_ROOT / "chapters").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            for output in cell.get("outputs", []):
                if output.get("name") == "stderr" or output.get("output_type") == "error":
                    found.append(f"{nb.name} cell {index}: {''.join(output.get('text', ''))[:80]!r}")
    assert not found, "outputs on stderr or errors:\n  " + "\n  ".join(found)


# -- links, anchors and references, offline ---------------------------------------------------

#: (tag, attribute) pairs that point at another file of the site (or off it)
LINK_ATTRIBUTES = {("a", "href"), ("link", "href"), ("img", "src"), ("script", "src"), ("source", "src"),
                   ("iframe", "src"), ("video", "src"), ("audio", "src")}
#: A Python-domain cross-reference (the API page) that Sphinx left unresolved is <code class="xref py ...">
#: outside a link. Only names the site documents nowhere may stay so: torch's and the standard
#: library's (no intersphinx: the build is offline) and private helpers.
PY_XREF = re.compile(r"\bpy-(func|class|meth|mod|attr|data|obj|exc)\b")


class _PageParser:
    """The ids, links and unresolved references of one built HTML page (standard library parser)."""

    def __init__(self, text: str):
        from html.parser import HTMLParser

        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.unresolved: list[str] = []  # text of cross-references left without a link
        self.citations = self.figure_refs = self.doc_refs = 0
        page = self

        class Parser(HTMLParser):
            anchors = 0  # depth of open <a> elements
            capture: list | None = None

            def handle_starttag(self, tag, attrs):
                attributes = dict(attrs)
                for key in ("id", "name" if tag == "a" else "id"):
                    if attributes.get(key):
                        page.ids.add(attributes[key])
                for name in ("href", "src"):
                    if (tag, name) in LINK_ATTRIBUTES and attributes.get(name) is not None:
                        rel = attributes.get("rel") or ""
                        if not (tag == "link" and any(r in rel for r in ("canonical", "alternate"))):
                            page.links.append((tag, attributes[name]))
                classes = (attributes.get("class") or "").split()
                if tag == "a":
                    self.anchors += 1
                    href = attributes.get("href") or ""
                    if "reference" in classes and "internal" in classes and "references.html#" in href:
                        page.citations += 1
                if self.anchors and "std-numref" in classes:
                    page.figure_refs += 1
                if self.anchors and ("std-doc" in classes or classes == ["doc"]):
                    page.doc_refs += 1
                if "xref" in classes and not self.anchors and self.capture is None:
                    self.capture = [tag, " ".join(classes), ""]

            def handle_data(self, data):
                if self.capture is not None:
                    self.capture[2] += data

            def handle_endtag(self, tag):
                if tag == "a":
                    self.anchors = max(0, self.anchors - 1)
                if self.capture is not None and tag == self.capture[0]:
                    page.unresolved.append(f"{self.capture[2].strip()} ({self.capture[1]})")
                    self.capture = None

        Parser().feed(text)


def _site_root() -> str:
    """The path absolute links of the site start with (the 404 page's): '/<repo>/', or '/'."""
    base = _load_tasks().pages_url(REPOSITORY or None)
    return urlsplit(base).path if base else "/"


def _documented_python_names(built_book: Path) -> set[str]:
    """The last component of every Python object the site documents (its objects.inv)."""
    from sphinx.util.inventory import InventoryFile

    with open(built_book / "objects.inv", "rb") as stream:
        inventory = InventoryFile.load(stream, "", lambda base, uri: uri)
    return {name.rsplit(".", 1)[-1] for kind, entries in inventory.items() if kind.startswith("py:") for name in entries}


def check_site(html: Path, site_root: str, documented: set[str]) -> tuple[list[str], list[str], dict]:
    """(broken links and anchors, unresolved references, counts) of the site built in ``html``."""
    root = html.resolve()
    pages = {p.resolve(): _PageParser(p.read_text(encoding="utf-8")) for p in root.rglob("*.html")
             if "_static" not in p.relative_to(root).parts}  # (_static/ holds the themes' Jinja macros)
    broken, counts = [], {"pages": len(pages), "local links": 0, "anchors": 0, "external links": 0}
    for path, page in pages.items():
        for tag, url in page.links:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc:  # http(s), mailto, data, javascript, //host
                counts["external links"] += parts.scheme in ("http", "https", "")
                continue
            if not parts.path:  # "#anchor" in this page, or "" / "#"
                target = path
            elif parts.path.startswith("/"):
                if not parts.path.startswith(site_root):
                    broken.append(f"{path.relative_to(root)}: {url} is outside the site ({site_root})")
                    continue
                target = (root / unquote(parts.path[len(site_root):])).resolve()
            else:
                target = (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            counts["local links"] += 1
            if not target.is_relative_to(root) or not target.is_file() or (
                    target.suffix == ".html" and target not in pages and "_static" not in target.parts):
                broken.append(f"{path.relative_to(root)}: <{tag}> {url}: no such file")
                continue
            if parts.fragment and target.suffix == ".html":
                counts["anchors"] += 1
                if unquote(parts.fragment) not in pages[target].ids:
                    broken.append(f"{path.relative_to(root)}: {url}: no id {parts.fragment!r} in {target.name}")
    unresolved = [f"{path.relative_to(root)}: {ref}" for path, page in pages.items() for ref in page.unresolved
                  if not PY_XREF.search(ref) or ref.split(" (")[0].removesuffix("()").rsplit(".", 1)[-1] in documented]
    counts.update(citations=sum(p.citations for p in pages.values()),
                  figure_refs=sum(p.figure_refs for p in pages.values()),
                  doc_refs=sum(p.doc_refs for p in pages.values()),
                  external_python_names_left_unlinked=sum(len(p.unresolved) for p in pages.values()) - len(unresolved))
    return broken, unresolved, counts


def test_every_link_anchor_and_reference_resolves(built_book: Path, book_timings: dict):
    """Offline, over every HTML file of the built site: each local href/src is a file of the site,
    each #anchor an id in its target page; no cross-reference (document, figure, equation,
    citation, or the API page's Python names of metalearn_lite) was left without its link."""
    broken, unresolved, counts = check_site(built_book, _site_root(), _documented_python_names(built_book))
    book_timings["links"] = counts
    print(f"\nlinks checked: {counts}")
    assert counts["local links"] > 1000 and counts["citations"] > 0
    assert not broken, f"{len(broken)} broken links or anchors:\n  " + "\n  ".join(broken[:50])
    assert not unresolved, f"{len(unresolved)} unresolved references:\n  " + "\n  ".join(unresolved[:80])


def test_link_check_finds_what_is_broken(tmp_path):
    """The check is not vacuous: a missing page, a missing anchor, a link off the site's path and
    an unlinked reference are each reported; what resolves is not."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<p id="top"><a href="sub/page.html#here">ok</a> <a href="#top">ok</a> <a href="https://x.org/">out</a>'
        '<a href="sub/gone.html">1</a> <a href="sub/page.html#nowhere">2</a> <a href="/elsewhere/x.html">3</a>'
        '<span class="xref std std-ref">4</span> <a href="sub/"><span class="xref std std-ref">ok</span></a>'
        '<code class="xref py py-class">Module</code> <code class="xref py py-func">meta_train()</code></p>')
    (tmp_path / "sub" / "page.html").write_text('<h1 id="here">Here</h1><img src="../img.png">')
    (tmp_path / "sub" / "index.html").write_text('<a href="/site/sub/page.html">ok</a>')
    broken, unresolved, counts = check_site(tmp_path, "/site/", documented={"meta_train"})
    assert len(broken) == 4, broken  # gone.html, #nowhere, /elsewhere/, img.png
    assert [u.split(": ", 1)[1].split(" (")[0] for u in unresolved] == ["4", "meta_train()"]
    assert counts["external links"] == 1 and counts["external_python_names_left_unlinked"] == 1


def test_site_has_its_404_page_sitemap_and_link_previews(built_book: Path):
    """404.html links back to the contents from the site's root path; every page has Open Graph
    tags; with an address, sitemap.xml lists the toc's pages under html_baseurl."""
    not_found = (built_book / "404.html").read_text(encoding="utf-8")
    assert f'href="{_site_root()}book/intro.html"' in not_found
    for name in toc_pages():
        text = (built_book / f"{name}.html").read_text(encoding="utf-8")
        assert '<meta property="og:title"' in text and '<meta property="og:description"' in text, name
    base = _load_tasks().pages_url(REPOSITORY or None)
    sitemap = built_book / "sitemap.xml"
    if base is None:
        return  # no address, no sitemap (book/_ext/site_address.py)
    listed = set(re.findall(r"<loc>([^<]+)</loc>", sitemap.read_text(encoding="utf-8")))
    assert {f"{base}{name}.html" for name in toc_pages()} <= listed
    assert f"{base}404.html" not in listed
