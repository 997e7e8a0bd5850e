"""The built website (_build/html), served on 127.0.0.1 and read in a real browser.

`make test-browser` runs these tests after `make test-site` has built the site;
`make test-unit` leaves this folder out. The browser is Debian's chromium
(/usr/bin/chromium, installed by the Makefile) driven by Playwright for Python;
Playwright's own browser download is never used.

Every request the pages make to a host outside the loopback range is aborted
and recorded: the site must render with none of them. The ``crawl`` fixture
visits each page of _toc.yml once and records what the tests check (console
errors, requests, links, element ids, images, launch buttons, ...), so the
whole suite loads each page once.

Without the built site or Chromium, a bare ``pytest`` skips these tests and
says what is missing; ``make test-browser`` sets ``COMPANION_REQUIRE_BROWSER=1``,
which turns the same message into a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading

import pytest

from browsing import (CHROMIUM, CHROMIUM_ARGS, SITE, VIEWPORT, Browser, Network, PageVisit, QuietHandler,
                      is_loopback, toc_docnames, visit)


def _missing(message: str):
    """Fail under `make test-browser`; elsewhere (a bare `pytest`) skip with the same message."""
    if os.environ.get("COMPANION_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message + " (browser tests skipped; `make test-browser` runs them)")


@pytest.fixture(scope="session")
def site_url():
    """Base URL (ending in /) of _build/html served by http.server on a free loopback port."""
    if not (SITE / "index.html").is_file():
        _missing(f"{SITE} has no index.html: build the site first (`make test-site`)")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One Chromium with a fresh user-data dir; non-loopback requests are aborted and recorded."""
    if not CHROMIUM.is_file():
        _missing(f"{CHROMIUM} is missing: `make test-browser` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    network = Network()

    def route(route_, request):
        if is_loopback(request.url):
            route_.continue_()
        else:
            network.external.append((network.current, request.url))
            route_.abort("blockedbyclient")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            service_workers="block",
        )
        context.set_default_timeout(30_000)
        context.route("**/*", route)
        yield Browser(context, network)
        context.close()


@pytest.fixture(scope="session")
def crawl(browser, site_url) -> dict[str, PageVisit]:
    """Every page of _toc.yml, visited once, keyed by docname, in reading order."""
    return {name: visit(browser, site_url + name + ".html", name) for name in toc_docnames()}
