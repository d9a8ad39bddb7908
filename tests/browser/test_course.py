"""The course, tested in a real browser: what a student clicks must work.

- Folded solutions unfold when their title is clicked, and fold again.
- Every glossary link (``glossary.html#term-...``) and every citation link points to
  an element that exists.
- Every chapter page offers a download of its notebook and Binder and Colab launch
  links that open that notebook of the repository named in ``book/_config.yml``.
- At a phone width of 390 px no page of the table of contents scrolls sideways, and no
  formula is clipped: it fits its box, or its box scrolls with a visible cue (a fade at
  the edge that has more; chapter 2's wide matrix form is checked by name).
- No chapter page shows the notebook's Colab install cell above its title.
- A glossary link shows the term's Chinese name and definition on hover and on keyboard
  focus, without leaving the page; every glossary link of the site has such an entry.
- On a phone a wide figure can be enlarged to its own size and scrolled in its box.
- The numbers quoted on the "Results at a glance" page are the chapters' pinned outputs.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urldefrag, urljoin, urlparse

import nbformat
import pytest
import yaml
from conftest import HTML, ROOT, toc_pages

PAGES = toc_pages()
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]
PHONE = {"width": 390, "height": 844}


def _config() -> dict:
    return yaml.safe_load((ROOT / "book" / "_config.yml").read_text())


# --- folded solutions ----------------------------------------------------------------


@pytest.mark.parametrize("path", CHAPTERS)
def test_solutions_fold_and_unfold(loaded_page, path: str) -> None:
    page = loaded_page(path).page
    solutions = page.locator(".solution.dropdown")
    assert solutions.count() >= 3, f"{path}: fewer than three folded solutions"
    first = solutions.first
    body = first.locator(":scope > section, :scope > :not(.admonition-title)").first
    title = first.locator(".admonition-title").first
    assert body.count() == 1, f"{path}: a solution without content"
    assert not body.is_visible(), f"{path}: the solution is visible before any click"
    title.click()
    body.wait_for(state="visible", timeout=5000)
    assert body.is_visible(), f"{path}: the solution does not unfold on click"
    title.click()
    body.wait_for(state="hidden", timeout=5000)
    assert not body.is_visible(), f"{path}: the solution does not fold again"


# --- glossary and citation links ----------------------------------------------------------


def test_glossary_and_citation_links_resolve() -> None:
    """Every glossary link and every citation link of every page has its target.

    Read from the built HTML files (the links are static): the page each link names
    exists and has an element with the link's anchor.
    """
    from test_site import _parse

    parsed: dict[Path, set[str]] = {}

    def ids(target: Path) -> set[str]:
        if target not in parsed:
            parsed[target] = _parse(target).ids
        return parsed[target]

    bad: list[str] = []
    n_term = n_cite = 0
    for path in PAGES:
        source = HTML / path
        for href in _parse(source).hrefs:
            is_term = "#term-" in href and (href.startswith("#") or "glossary.html" in href)
            is_cite = "bibliography.html#" in href or (
                path == "bibliography.html" and href.startswith("#id")
            )
            if not (is_term or is_cite):
                continue
            n_term += is_term
            n_cite += not is_term
            url, frag = urldefrag(urljoin(source.as_uri(), href))
            target = Path(unquote(urlparse(url).path))
            if not target.exists() or not frag or frag not in ids(target):
                bad.append(f"{path} -> {href}")
    assert n_term > 0, "no glossary link found on any page"
    assert n_cite > 0, "no citation link found on any page"
    assert bad == [], "glossary or citation links to missing targets:\n" + "\n".join(bad[:50])


def test_every_glossary_term_has_an_anchor(browser, site_url: str) -> None:
    page = browser.new_page()
    page.goto(f"{site_url}/glossary.html", wait_until="domcontentloaded")
    terms = page.evaluate(
        "() => Array.from(document.querySelectorAll('dl.glossary dt'), dt => [dt.id, dt.innerText])"
    )
    page.close()
    assert len(terms) >= 50, f"only {len(terms)} glossary terms"
    assert all(i.startswith("term-") for i, _ in terms), [t for t in terms if not t[0]]


# --- launch and download links ------------------------------------------------------------


@pytest.mark.parametrize("path", CHAPTERS)
def test_launch_links_are_well_formed(loaded_page, site_url: str, path: str) -> None:
    repo = urlparse(str(_config()["repository"]["url"]).rstrip("/"))
    branch = str(_config()["repository"].get("branch", "main"))
    org, name = repo.path.strip("/").split("/")
    notebook = "notebooks/" + Path(path).with_suffix(".ipynb").name
    assert (ROOT / notebook).exists()

    page = loaded_page(path).page
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.href)")

    binder = [h for h in hrefs if urlparse(h).netloc == "mybinder.org"]
    assert len(binder) == 1, f"{path}: expected one Binder link, found {binder}"
    b = urlparse(binder[0])
    assert (b.scheme, b.path) == ("https", f"/v2/gh/{org}/{name}/{branch}"), binder[0]
    assert parse_qs(b.query) == {"urlpath": [f"lab/tree/{notebook}"]}, binder[0]

    colab = [h for h in hrefs if urlparse(h).netloc == "colab.research.google.com"]
    assert colab == [
        f"https://colab.research.google.com/github/{org}/{name}/blob/{branch}/{notebook}"
    ], f"{path}: Colab links {colab}"

    downloads = [h for h in hrefs if h.endswith(".ipynb") and h.startswith(site_url)]
    assert downloads, f"{path}: no download link for the notebook"
    response = page.request.get(downloads[0])
    assert response.ok, f"{path}: the notebook download {downloads[0]} fails"
    nb = nbformat.reads(response.text(), as_version=4)
    assert "google.colab" in nb.cells[0].source, f"{path}: the download is not the chapter"


# --- phones -----------------------------------------------------------------------------


@pytest.mark.phone
@pytest.mark.parametrize("path", PAGES)
def test_no_sideways_scroll_on_a_phone(loaded_page, path: str) -> None:
    from PIL import Image

    page = loaded_page(path, phone=True).page
    page.wait_for_timeout(200)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    wide = page.evaluate(
        """() => Array.from(document.querySelectorAll('main *'))
              .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
              .filter(e => !e.closest('[style*=overflow], pre, table, .table-wrapper, mjx-container, .cell_output, .output'))
              .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
    )
    assert width <= PHONE["width"], f"{path}: the page scrolls sideways ({width} px); wide: {wide}"
    shot = Image.open(io.BytesIO(page.screenshot()))
    assert shot.width == PHONE["width"], f"{path}: screenshot {shot.width} px wide"


# A formula is clipped when an ancestor that hides overflow cuts its typeset box
# (mjx-math). A box that scrolls (overflow-x auto or scroll) may hold a wider formula;
# if that box is the formula's own (an inline span.math, a display mjx-container) it
# must show the cue of custom.css: the class fedmed-scroll and a fade (mask) at the edge
# that has more. Hidden maths (folded solutions) is skipped: it has no box yet.
MATHS_CLIPPED_JS = """() => {
  const problems = [];
  const boxes = document.querySelectorAll('main mjx-container');
  for (const m of boxes) {
    const math = m.querySelector('mjx-math');
    if (!math) continue;
    let r = math.getBoundingClientRect();
    if (r.width === 0) continue;
    const what = (m.getAttribute('display') === 'true' ? 'display ' : 'inline ')
                 + JSON.stringify(m.textContent.slice(0, 40));
    for (let a = m; a && a !== document.documentElement; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX === 'visible') continue;
      const b = a.getBoundingClientRect();
      if (r.right <= b.right + 1 && r.left >= b.left - 1) continue;
      if (cs.overflowX === 'auto' || cs.overflowX === 'scroll') {
        if (a.matches('mjx-container, .math')) {
          const mask = cs.maskImage || cs.webkitMaskImage || 'none';
          if (!a.classList.contains('fedmed-scroll') || mask === 'none') {
            problems.push(what + ' scrolls with no visible cue (' + a.tagName + '.' + a.className + ')');
          }
        }
        r = b;  // from here on, the scrolling box is what must fit
        continue;
      }
      problems.push(what + ' is clipped by ' + a.tagName + '.' + a.className + ' (' + cs.overflowX
                    + '; maths ' + Math.round(r.left) + '-' + Math.round(r.right) + ' px, box '
                    + Math.round(b.left) + '-' + Math.round(b.right) + ' px)');
      break;
    }
  }
  return [boxes.length, problems];
}"""


def _wait_for_maths(page) -> None:
    page.wait_for_function(
        "() => document.documentElement.dataset.fedmedMath === 'ready'", timeout=20000
    )
    page.wait_for_timeout(100)  # ResizeObserver callbacks


@pytest.mark.phone
@pytest.mark.parametrize("path", PAGES)
def test_maths_is_never_clipped_on_a_phone(loaded_page, path: str) -> None:
    """At 390 px every formula fits its box, or its box scrolls with a visible cue."""
    page = loaded_page(path, phone=True).page
    _wait_for_maths(page)
    _, problems = page.evaluate(MATHS_CLIPPED_JS)
    assert problems == [], f"{path}: maths clipped or scrolling without a cue:\n" + "\n".join(problems[:10])


def test_a_wide_formula_scrolls_with_a_cue_on_a_phone(browser, site_url: str) -> None:
    """Theorem 2.1's matrix form: a wide display formula shows a fade at the edge that has more."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{site_url}/notebooks/02_loss.html", wait_until="load")
    _wait_for_maths(page)
    n = page.evaluate("() => document.querySelectorAll('main .fedmed-scroll.fedmed-more-right').length")
    assert n > 0, "no wide formula on chapter 2 shows the cue at 390 px"
    state = page.evaluate(
        """async () => {
             const box = document.querySelector('main .fedmed-scroll.fedmed-more-right');
             box.scrollLeft = box.scrollWidth;
             await new Promise(r => setTimeout(r, 100));
             return [box.classList.contains('fedmed-more-left'),
                     box.classList.contains('fedmed-more-right'), box.getAttribute('tabindex')];
           }"""
    )
    assert state == [True, False, "0"], f"scrolled to its end, the formula's cue is {state}"
    context.close()


# --- chapter pages --------------------------------------------------------------------------


@pytest.mark.parametrize("path", CHAPTERS)
def test_no_colab_install_cell_above_the_title(loaded_page, path: str) -> None:
    """The notebook's Colab install cell is not shown on the page (the notebook keeps it)."""
    page = loaded_page(path).page
    found = page.evaluate(
        """() => {
             const h1 = document.querySelector('main h1');
             if (!h1) return ['no title'];
             const top = h1.getBoundingClientRect().top + window.scrollY;
             const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
             const hits = [];
             for (let t = walker.nextNode(); t; t = walker.nextNode()) {
               if (!t.textContent.includes('google.colab')) continue;
               const el = t.parentElement;
               if (!el || el.getClientRects().length === 0 || getComputedStyle(el).visibility === 'hidden') continue;
               const y = el.getBoundingClientRect().top + window.scrollY;
               if (y < top || (h1.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING)) hits.push(el.textContent.slice(0, 60));
             }
             return hits;
           }"""
    )
    assert found == [], f"{path}: visible Colab install code above the title: {found}"


# --- glossary tooltips ----------------------------------------------------------------------


def _glossary_data() -> dict:

    text = (HTML / "_static" / "fedmed-glossary-data.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("{") : text.rindex("}") + 1])


def test_every_glossary_link_has_a_tooltip_entry() -> None:
    """Every ``#term-...`` link of the site has an entry with a Chinese term and a definition."""

    data = _glossary_data()
    assert len(data) >= 50, f"only {len(data)} glossary entries for the tooltips"
    missing = set()
    for html in HTML.rglob("*.html"):
        if "_static" in html.parts or "_sources" in html.parts:
            continue
        if html.relative_to(HTML).parts[0] == "zh":  # the Chinese site has its own glossary
            continue
        for term in re.findall(r'href="[^"]*#(term-[^"]+)"', html.read_text(encoding="utf-8")):
            if term not in data:
                missing.add(term)
    assert missing == set(), f"glossary links with no tooltip entry: {sorted(missing)}"
    empty = [k for k, v in data.items() if not v["zh"] or not v["text"]]
    assert empty == [], f"entries without a Chinese term or a definition: {empty}"
    raw = [k for k, v in data.items() if re.search(r"\bch-[a-z]", v["text"])]
    assert raw == [], f"entries with an unresolved chapter label: {raw}"


@pytest.mark.parametrize("how", ["hover", "focus"])
def test_glossary_link_shows_the_definition(browser, site_url: str, how: str) -> None:
    """Hovering or focusing (keyboard) a glossary link shows its Chinese term; Escape hides it."""
    data = _glossary_data()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site_url}/notebooks/06_four_hospitals.html", wait_until="load")
    link = page.locator("main a.reference[href*='glossary.html#term-']").first
    assert link.count() == 1, "chapter 6 has no glossary link"
    term = (link.get_attribute("href") or "").split("#", 1)[1]
    zh = data[term]["zh"]
    assert re.search(r"[\u4e00-\u9fff]", zh), f"{term}: no Chinese term in {zh!r}"
    if how == "hover":
        link.hover()
    else:
        link.focus()
    tip = page.locator("#fedmed-glossary-tip")
    tip.wait_for(state="visible", timeout=5000)
    assert zh in tip.inner_text(), f"the tooltip of {term} does not show {zh!r}: {tip.inner_text()!r}"
    assert link.get_attribute("aria-describedby") == "fedmed-glossary-tip"
    assert page.url.endswith("06_four_hospitals.html"), "showing the definition left the page"
    page.keyboard.press("Escape")
    tip.wait_for(state="hidden", timeout=5000)
    page.close()


# --- wide figures on a phone -----------------------------------------------------------------


def test_a_wide_figure_can_be_enlarged_on_a_phone(browser, site_url: str) -> None:
    """Chapter 7's 1200 px Dirichlet bars: "Enlarge figure" shows them at their own size in a
    box that scrolls with a cue, without the page scrolling sideways; pressed again, they fit."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{site_url}/notebooks/07_non_iid.html", wait_until="load")
    page.wait_for_function("() => document.documentElement.dataset.fedmedFigures === 'ready'", timeout=20000)
    buttons = page.locator("main button.fedmed-zoom-button:visible")
    assert buttons.count() >= 1, "no wide figure of chapter 7 offers to be enlarged at 390 px"
    button = buttons.first
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    state = page.evaluate(
        """() => { const img = document.querySelector('main img.fedmed-figure-zoomed');
                   const box = img.closest('.fedmed-scroll');
                   return {img: img.getBoundingClientRect().width, natural: img.naturalWidth,
                           box: !!box && getComputedStyle(box).overflowX,
                           cue: !!box && box.classList.contains('fedmed-more-right'),
                           page: document.documentElement.scrollWidth}; }"""
    )
    assert state["img"] >= 0.95 * state["natural"], f"the enlarged figure is not at its own size: {state}"
    assert state["box"] == "auto" and state["cue"], f"the enlarged figure's box has no scroll cue: {state}"
    assert state["page"] <= PHONE["width"], f"the page scrolls sideways with the figure enlarged: {state}"
    assert button.get_attribute("aria-pressed") == "true"
    button.click()
    width = page.evaluate("() => document.querySelector('main .cell_output img').getBoundingClientRect().width")
    assert page.locator("main img.fedmed-figure-zoomed").count() == 0 and width <= PHONE["width"]
    context.close()


# --- results at a glance ------------------------------------------------------------------

# (notebook, text in its pinned output, text on the results page)
RESULTS = [
    ("01_why_federated_learning", "accuracy, federated: 0.99", "federated accuracy 0.99"),
    ("01_why_federated_learning", "accuracy, pooled: 0.99", "pooled 0.99"),
    ("01_why_federated_learning", "smallest hospital alone: 0.90", "smallest hospital alone 0.90"),
    ("04_aggregation_fedsgd", "MSE = 0.4823", "MSE 0.4823"),
    ("04_aggregation_fedsgd", "within 1e-6 at every round: True", "within $10^{-6}$ at every"),
    ("06_four_hospitals", "local 0.840, FedAvg 0.834, pooled 0.834", "local 0.840, FedAvg 0.834, pooled 0.834"),
    ("06_four_hospitals", "FedAvg / pooled: 100.0%", "FedAvg / pooled: 100.0%"),
    ("06_four_hospitals", "local models abroad: 0.687", "local models abroad 0.687"),
    ("07_non_iid", "alpha=100: accuracy 0.96, rounds to 93%: 2", "2 at $\\alpha = 100$"),
    ("07_non_iid", "alpha=0.1: accuracy 0.94, rounds to 93%: 17", "17 at $\\alpha = 0.1$"),
    ("07_non_iid", "alpha=0.1, E=20: FedAvg 0.93, FedProx 0.95, SCAFFOLD 0.97", "FedAvg 0.93, FedProx 0.95"),
    ("07_non_iid", "alpha=100, E=20: FedAvg 0.97, FedProx 0.97, SCAFFOLD 0.98", "0.98 vs 0.97"),
    ("09_limited_resources", "8-bit: 0.1053 MB, accuracy 0.96", "0.1053 MB"),
    ("09_limited_resources", "float64 (none): 0.8320 MB, accuracy 0.96", "0.8320 MB"),
    ("11_gradient_leakage", "relative error below 1e-10: True", "below $10^{-10}$"),
    ("11_gradient_leakage", "relative error below 1e-6: True", "below $10^{-6}$"),
    ("11_gradient_leakage", "stays far away (error > 0.1): True", "stays far away"),
    ("12_secure_aggregation", "plain fixed-point sum exactly: True", "equals the plain sum exactly"),
    ("12_secure_aggregation", "dropped [1, 4], survivors [0, 2, 3, 5]: exact sum recovered True",
     "2 of 6 hospitals dropped"),
    # chapters 5, 13-15 (and 10, 16-21): the page reads the numbers from the executed
    # notebooks ({{ chNN_... }} substitutions, resolved by tools/stage_book.py, which fails
    # on a name no chapter glues); chapter 15's AUROCs come from float32 training and are
    # not pinned
    ("16_flower", "Flower = simulation to 1e-9: True", "Flower = simulation to 1e-9"),
    ("16_flower", "(all hospitals): 0.830", "test accuracy 0.830"),
]


def _pinned_text(stem: str) -> str:
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    texts = []
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
            texts += [o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
    return re.sub(r"[ \t]+", " ", "".join(texts))


@pytest.mark.parametrize("stem,pinned,quoted", RESULTS, ids=lambda v: str(v)[:40])
def test_results_page_quotes_the_pinned_outputs(stem: str, pinned: str, quoted: str) -> None:
    page = (ROOT / "book" / "results_at_a_glance.md").read_text(encoding="utf-8")
    assert re.sub(r"[ \t]+", " ", pinned) in _pinned_text(stem), (
        f"{stem}: the pinned output no longer says {pinned!r}; update results_at_a_glance.md"
    )
    rows = [line for line in page.splitlines() if quoted in line]
    assert rows, f"results_at_a_glance.md no longer quotes {quoted!r} ({stem})"
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    label = re.search(r"^\((ch-[\w-]+)\)=", md, re.M)
    assert label is not None, f"{stem}: no chapter label"
    assert any(f"{{ref}}`{label.group(1)}`" in row for row in rows), (
        f"the row quoting {quoted!r} does not name {label.group(1)}, the chapter that measures it"
    )
