"""Helpers for the browser tests: the pages of _toc.yml, the loopback check, and
`visit`, which loads one page in Chromium and records what a reader would see."""

from __future__ import annotations

import http.server
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path(os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}


def toc_docnames(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """Every page of _toc.yml in reading order (root first), as Sphinx docnames."""
    data = yaml.safe_load(toc.read_text())

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for key in ("parts", "chapters", "sections"):
                yield from walk(node.get(key, []))
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    names = [data["root"], *walk({key: data[key] for key in ("parts", "chapters") if key in data})]
    out = []
    for name in names:
        name = str(Path(name).with_suffix("")) if Path(name).suffix in {".md", ".ipynb"} else name
        if name not in out:
            out.append(name)
    return out


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname
    if host is None:  # data:, blob:, about:
        return True
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def page_path(url: str, site_url: str) -> str:
    """'book/tour.html' for http://127.0.0.1:N/book/tour.html?x#y."""
    url, _ = urldefrag(url)
    path = urlsplit(url).path
    base = urlsplit(site_url).path
    return path[len(base):] if path.startswith(base) else path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@dataclass
class Network:
    """Requests seen by the browser, per page URL (the page that was loading)."""

    external: list[tuple[str, str]] = field(default_factory=list)  # (page, aborted url)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (page, url, why)
    current: str = ""


@dataclass
class Browser:
    context: object  # playwright.sync_api.BrowserContext
    network: Network


@dataclass
class PageVisit:
    """What one page of the site showed when loaded in the browser."""

    docname: str
    url: str
    status: int
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # absolute hrefs of <a> elements
    ids: set[str] = field(default_factory=set)
    sidebar: list[str] = field(default_factory=list)
    previous: str | None = None
    next: str | None = None
    images: list[dict] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    figures: int = 0
    math: int = 0  # elements Sphinx marked as math
    equations: int = 0  # MathJax output elements
    math_errors: int = 0
    launch: list[str] = field(default_factory=list)
    repository: list[str] = field(default_factory=list)
    runtime_notes: list[str] = field(default_factory=list)
    progress_bars: list[str] = field(default_factory=list)
    wide_code_lines: list[str] = field(default_factory=list)  # lines of code cells wider than their block


COLLECT = r"""() => {
  const abs = (a) => a ? a.href : null;
  const article = document.querySelector('article') || document.body;
  const scrolls = (el) => el.scrollWidth > el.clientWidth;
  return {
    title: document.title,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id)
          .concat([...document.querySelectorAll('a[name]')].map(e => e.name)),
    sidebar: [...document.querySelectorAll('nav.bd-docs-nav a.reference.internal')].map(a => a.href),
    previous: abs(document.querySelector('a.left-prev')),
    next: abs(document.querySelector('a.right-next')),
    images: [...article.querySelectorAll('img')].map(i => ({
      src: i.currentSrc || i.src, complete: i.complete,
      width: i.naturalWidth, height: i.naturalHeight})),
    scripts: [...document.scripts].map(s => s.src).filter(Boolean),
    figures: [...article.querySelectorAll('.cell_output img, figure img')].length,
    math: article.querySelectorAll('.math').length,
    equations: article.querySelectorAll('mjx-container').length,
    math_errors: article.querySelectorAll('mjx-merror').length,
    launch: [...document.querySelectorAll('.dropdown-launch-buttons a')].map(a => a.href),
    repository: [...document.querySelectorAll('.dropdown-source-buttons a, a.btn-source-repository-button')].map(a => a.href),
    runtime_notes: [...article.querySelectorAll('.runtime-note p:not(.admonition-title)')].map(p => p.innerText.trim()),
    // tqdm as text ("40%|████      | 4/10 [00:01<00:02, 3.1it/s]") or as a Jupyter widget
    progress_bars: article.innerText.split('\n').filter(line => /\d+%\|.*\|\s*\d+\/\d+/.test(line))
      .concat([...article.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
        .map(() => 'a Jupyter widget')),
    // lines of a code cell's input that do not fit its block's width (the block scrolls sideways):
    // each line of a block that scrolls is measured alone in an empty copy of the block
    wide_code_lines: [...article.querySelectorAll('.cell_input pre')].filter(scrolls).flatMap(pre => {
      const probe = pre.cloneNode(false);
      pre.parentNode.appendChild(probe);
      const wide = pre.textContent.split('\n').filter(line => { probe.textContent = line; return scrolls(probe); });
      probe.remove();
      return wide.map(line => line.trim());
    }),
  };
}"""

WAIT_FOR_MATH = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await document.fonts.ready;
}"""


def visit(browser: Browser, url: str, docname: str = "") -> PageVisit:
    """Load one page, wait for MathJax and the network to settle, and record what it shows."""
    page = browser.context.new_page()
    network = browser.network
    network.current = url
    console_errors, page_errors = [], []

    def on_console(message):
        if message.type == "error":
            where = (message.location or {}).get("url", "")
            if where and not is_loopback(where):
                return  # an aborted external request: counted in network.external
            console_errors.append(f"{message.text} ({where})")

    def on_failed(request):
        if is_loopback(request.url):
            network.failed.append((url, request.url, request.failure or "failed"))

    def on_response(response):
        if is_loopback(response.url) and response.status >= 400:
            network.failed.append((url, response.url, f"HTTP {response.status}"))

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    try:
        response = page.goto(url, wait_until="load")
        page.evaluate(WAIT_FOR_MATH)
        page.wait_for_load_state("networkidle")
        data = page.evaluate(COLLECT)
    finally:
        page.close()
    return PageVisit(
        docname=docname, url=url, status=response.status if response else 0,
        title=data["title"], console_errors=console_errors, page_errors=page_errors,
        links=data["links"], ids=set(data["ids"]), sidebar=data["sidebar"],
        previous=data["previous"], next=data["next"], images=data["images"],
        scripts=data["scripts"], figures=data["figures"], math=data["math"],
        equations=data["equations"], math_errors=data["math_errors"], launch=data["launch"],
        repository=data["repository"], runtime_notes=data["runtime_notes"],
        progress_bars=data["progress_bars"], wide_code_lines=data["wide_code_lines"],
    )


