"""Fixtures of the browser test: the built site served on 127.0.0.1, and Chromium."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("FEDMED_SITE_DIR", ROOT / "_build" / "site" / "_build" / "html"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def toc_pages() -> list[str]:
    """Every page of the table of contents, as paths relative to the site root."""
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
            files.extend(s["file"] for s in ch.get("sections", []))
    return [f + ".html" for f in files]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def site_url() -> Iterator[str]:
    """Serve the built HTML on a free port of 127.0.0.1."""
    if not (HTML / "index.html").exists():
        pytest.fail(f"the site is not built: {HTML}/index.html is missing (run `make build`)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make browser` installs Debian's chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# --- one load per page and viewport --------------------------------------------------
# Most checks look at the same pages (every page of the table of contents, on a desktop
# and on a phone). Loading a page with its maths and figures costs about two seconds, so
# the tests share loaded pages: the tests that take a ``path`` are run grouped by that
# path (pytest_collection_modifyitems below), and ``loaded_page`` keeps the last few
# pages open. A test may click (folding a solution) but must leave the page as it found
# it; console errors and failed requests are collected from the moment a page loads.

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Loaded:
    """A page of the site, loaded once and shared by the tests of that page."""

    url: str
    page: Any
    status: int | None
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class _Pages:
    def __init__(self, browser: Any, site_url: str, keep: int = 4) -> None:
        self.browser, self.site_url, self.keep = browser, site_url, keep
        self.cache: OrderedDict[tuple[str, bool], tuple[Any, Loaded]] = OrderedDict()

    def __call__(self, path: str, *, phone: bool = False) -> Loaded:
        key = (path, phone)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key][1]
        context = self.browser.new_context(
            viewport=PHONE if phone else DESKTOP, device_scale_factor=1
        )
        page = context.new_page()
        url = f"{self.site_url}/{path}"
        loaded = Loaded(url=url, page=page, status=None)
        page.on("console", lambda m: loaded.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: loaded.errors.append(str(e)))
        page.on("requestfailed", lambda r: loaded.failed.append(r.url))
        response = page.goto(url, wait_until="load")
        loaded.status = response.status if response is not None else None
        page.wait_for_function(
            "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)",
            timeout=20000,
        )
        page.evaluate(
            "() => window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise : null"
        )
        self.cache[key] = (context, loaded)
        while len(self.cache) > self.keep:
            _, (old_context, _) = self.cache.popitem(last=False)
            old_context.close()
        return loaded

    def close(self) -> None:
        for context, _ in self.cache.values():
            context.close()
        self.cache.clear()


@pytest.fixture(scope="session")
def loaded_page(browser, site_url: str) -> Iterator[_Pages]:
    """``loaded_page(path, phone=False)``: the page at ``path``, loaded once and shared."""
    pages = _Pages(browser, site_url)
    try:
        yield pages
    finally:
        pages.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests of one page together, so that they share its loaded copy."""

    def key(item: pytest.Item) -> tuple[int, str]:
        callspec = getattr(item, "callspec", None)
        path = callspec.params.get("path") if callspec is not None else None
        return (0, "") if path is None else (1, str(path))

    items.sort(key=key)  # stable: within a page, the tests keep their order
