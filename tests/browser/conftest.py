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
# and on a phone). Loading a page with its maths and figures costs one to two seconds,
# so the tests share loaded pages: the tests that take a ``path`` are run grouped by that
# path, the desktop tests of a page before its phone tests (marked ``phone``;
# pytest_collection_modifyitems below), and ``loaded_page`` keeps the last few pages
# open. A page is loaded once: when a phone test asks for a page loaded on the desktop,
# the window is narrowed to the phone's width, as when a reader narrows a browser window
# (the layout is CSS media queries, and the site's scripts follow resizes). A test may
# click (folding a solution) but must leave the page as it found it; console errors and
# failed requests are collected from the moment a page loads.

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Loaded:
    """A page of the site, loaded once and shared by the tests of that page."""

    url: str
    page: Any
    status: int | None
    phone: bool = False
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class _Pages:
    def __init__(self, browser: Any, site_url: str, keep: int = 4) -> None:
        self.browser, self.site_url, self.keep = browser, site_url, keep
        self.cache: OrderedDict[str, tuple[Any, Loaded]] = OrderedDict()

    def __call__(self, path: str, *, phone: bool = False) -> Loaded:
        key = path
        if key in self.cache:
            self.cache.move_to_end(key)
            loaded = self.cache[key][1]
            if loaded.phone != phone:
                loaded.page.set_viewport_size(PHONE if phone else DESKTOP)
                loaded.phone = phone
                # two animation frames: the new layout, then the resize handlers' changes
                loaded.page.evaluate(
                    "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
                )
            return loaded
        context = self.browser.new_context(
            viewport=PHONE if phone else DESKTOP, device_scale_factor=1
        )
        page = context.new_page()
        url = f"{self.site_url}/{path}"
        loaded = Loaded(url=url, page=page, status=None, phone=phone)
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
    """Run the tests of one page together (desktop first), so that they share one load."""

    def key(item: pytest.Item) -> tuple[int, str, bool]:
        callspec = getattr(item, "callspec", None)
        path = callspec.params.get("path") if callspec is not None else None
        phone = item.get_closest_marker("phone") is not None
        return (0, "", False) if path is None else (1, str(path), phone)

    items.sort(key=key)  # stable: within a page, the tests keep their order
