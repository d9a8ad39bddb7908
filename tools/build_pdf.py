"""Build the whole book as a PDF, in English and in Chinese, offline.

Toolchain: Sphinx's ``singlehtml`` builder (through Jupyter Book) renders the staged
book as one HTML page, exactly as the site renders it (chapter, figure and equation
numbers, MathJax, glued numbers, executed outputs, theorems, exercises), and Debian's
Chromium prints that page through Playwright once MathJax has typeset it. The print
layout is ``book/_pdf/fedmed-print.css``; ``book/_ext/fedmed_pdf.py`` (loaded by this
build only) makes the parts top-level sections and prints the folded solutions open.
This tool adds a title page and a table of contents with page numbers: it prints twice,
reads on which page each chapter starts (``pdftotext``) and writes the numbers in.
Chromium writes the PDF's bookmarks (outline) from the headings: Part > Chapter > Section.

The library reference (``book/api/``, about 130 pages of signatures in December 2026) stays on the
website, where it is searched and linked: the printed book has one page in its place
that says where to find it (``REFERENCE_STUB``), in each edition's language.

The LaTeX route (``jupyter-book build --builder pdflatex`` with xelatex) was tried and
not kept: on this machine it needed a stub for ``bbm.sty`` (not in Debian's TeX subset)
and another main font (FreeSerif is absent), and it drops what only exists as HTML
(pandas tables, the glossary's tooltips' data) while renumbering equations its own way.

Usage::

    python tools/build_pdf.py                 # English: _build/pdf/fedmed-en.pdf
    python tools/build_pdf.py --lang zh       # Chinese, from the staged _build/src_zh
    python tools/build_pdf.py --lang en --lang zh --copy-to _build/site/_build/html

English is staged here by ``tools/stage_book.py`` (into ``_build/pdf_src/en``, so that it
never races the site's build in ``_build/src``). Chinese is copied from the Chinese
staged source (``--src``, default ``_build/src_zh``, written by the zh staging step).
Chapters whose executed copy is missing or stale are left out of the PDF, with a
warning (the site's strict build is where that fails).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PDF_SRC = ROOT / "_build" / "pdf_src"
OUT = ROOT / "_build" / "pdf"
CHROMIUM = "/usr/bin/chromium"
# (source under book/, destination in the staged copy). The print stylesheet is kept out
# of book/_static/ because Jupyter Book 1 links every .css found there into every page of
# the site; in the staged PDF copy it is in _static/ so that the PDF build links it.
OWN_FILES = (("_ext/fedmed_pdf.py", "_ext/fedmed_pdf.py"),
             ("_pdf/fedmed-print.css", "_static/fedmed-print.css"))

EDITION = {
    "en": {"label": "English edition", "contents": "Contents", "language": "en"},
    "zh": {"label": "中文版", "contents": "目录", "language": "zh_CN"},
}

# The page that stands for the library reference in the printed book (label ``api``, so
# that the introduction's link to the reference still resolves).
REFERENCE_STUB = {
    "en": (
        "(api)=\n# Library reference\n\n"
        "The reference of the helper library `fedmed_lib` (every public function, class "
        "and constant, with its signature, its documentation and a link to the chapter "
        "that introduces it) is part of the book's website: the page *Library reference* "
        "(`api/index.html`, beside the site's `index.html`), which the site's search box "
        "also searches. It is left out of the printed book, where its many pages of "
        "signatures would serve a reader less than the search box does.\n\n"
        "In Python or JupyterLab the same text is one call away: "
        "`help(fedmed_lib.aggregate.weighted_average)`, or `weighted_average?` in a notebook.\n"
    ),
    "zh": (
        "(api)=\n# 库参考\n\n"
        "辅助库 `fedmed_lib` 的参考（每个公开的函数、类和常量，连同其签名、文档和引入它的章节）"
        "在本书的网站上：*Library reference* 页（`api/index.html`，与网站的 `index.html` "
        "在同一目录），网站的搜索框也会搜索它。它是英文的，印刷版不收录这些签名页。"
        "\n\n在 Python 或 JupyterLab 中，同样的文字只需一次调用："
        "`help(fedmed_lib.aggregate.weighted_average)`，或在笔记本中输入 `weighted_average?`。\n"
    ),
}


def log(msg: str) -> None:
    print(f"[build_pdf] {msg}", file=sys.stderr, flush=True)


# --- staging -------------------------------------------------------------------------

def toc_files(toc: dict) -> list[str]:
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
            files.extend(s["file"] for s in ch.get("sections", []))
    return files


def _exists(src: Path, name: str) -> bool:
    return any((src / f"{name}{ext}").exists() for ext in ("", ".md", ".ipynb", ".rst"))


def prune_toc(src: Path) -> list[str]:
    """Drop table-of-contents entries whose staged file is missing; return their names."""
    path = src / "_toc.yml"
    toc = yaml.safe_load(path.read_text(encoding="utf-8"))
    dropped: list[str] = []
    for part in toc.get("parts", []):
        kept = []
        for ch in part.get("chapters", []):
            if not _exists(src, ch["file"]):
                dropped.append(ch["file"])
                continue
            if "sections" in ch:
                dropped += [s["file"] for s in ch["sections"] if not _exists(src, s["file"])]
                ch["sections"] = [s for s in ch["sections"] if _exists(src, s["file"])]
                if not ch["sections"]:
                    del ch["sections"]
            kept.append(ch)
        part["chapters"] = kept
    toc["parts"] = [p for p in toc.get("parts", []) if p["chapters"]]
    path.write_text(yaml.safe_dump(toc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return dropped


def reference_stub(src: Path, lang: str) -> list[str]:
    """Put one page in place of the library reference; return the pages left out."""
    api = src / "api"
    if not (api / "index.md").exists():
        return []
    path = src / "_toc.yml"
    toc = yaml.safe_load(path.read_text(encoding="utf-8"))
    dropped: list[str] = []
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            if ch["file"] == "api/index" and "sections" in ch:
                dropped += [s["file"] for s in ch.pop("sections")]
    path.write_text(yaml.safe_dump(toc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    for page in api.glob("*.md"):
        if page.name != "index.md":
            page.unlink()
    (api / "index.md").write_text(REFERENCE_STUB[lang], encoding="utf-8")
    return dropped


def overlay_config(src: Path, lang: str) -> None:
    """The staged _config.yml, plus what the print build needs."""
    path = src / "_config.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    sphinx = config.setdefault("sphinx", {})
    sphinx.setdefault("local_extensions", {})["fedmed_pdf"] = "_ext"
    sphinx_config = sphinx.setdefault("config", {})
    if lang == "zh":
        sphinx_config.setdefault("language", "zh_CN")
    # No launch buttons, repository links or Thebe on paper (they are hidden anyway).
    config.pop("launch_buttons", None)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def stage(lang: str, src_zh: Path) -> Path:
    dst = PDF_SRC / lang
    if lang == "en":
        sys.path.insert(0, str(ROOT / "tools"))
        import stage_book

        stage_book.SRC = dst
        if stage_book.main() != 0:
            log("stage_book reported problems (above); the PDF leaves those chapters out")
    else:
        if not (src_zh / "_toc.yml").exists():
            raise SystemExit(
                f"build_pdf: the Chinese source is not staged ({src_zh}/_toc.yml is missing); "
                "stage it first (tools/stage_book.py --lang zh) or pass --src"
            )
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src_zh, dst, ignore=shutil.ignore_patterns("_build"))
    for rel, to in OWN_FILES:  # also into a staged copy made before these files existed
        (dst / to).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "book" / rel, dst / to)
    reference_stub(dst, lang)
    for name in prune_toc(dst):
        log(f"{lang}: {name} is not staged (missing or stale executed copy): left out of the PDF")
    overlay_config(dst, lang)
    return dst


# --- the single page ------------------------------------------------------------------

def build_single(src: Path, lang: str) -> Path:
    out = OUT / lang / "site"
    logfile = OUT / lang / "sphinx.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", str(src), "--path-output", str(out),
        "--builder", "custom", "--custom-builder", "singlehtml",
    ]
    if not Path(cmd[0]).exists():
        cmd[0] = shutil.which("jupyter-book") or "jupyter-book"
    with logfile.open("w", encoding="utf-8") as fh:
        result = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, check=False)
    text = logfile.read_text(encoding="utf-8", errors="replace")
    warnings = len(re.findall(r"WARNING:", text))
    if result.returncode != 0:
        tail = "\n".join(text.splitlines()[-30:])
        raise SystemExit(f"build_pdf: the singlehtml build failed ({logfile}):\n{tail}")
    log(f"{lang}: singlehtml built ({warnings} Sphinx warnings, see {logfile.relative_to(ROOT)})")
    root = yaml.safe_load((src / "_toc.yml").read_text(encoding="utf-8"))["root"]
    return out / "_build" / "singlehtml" / f"{root}.html"


# --- printing -------------------------------------------------------------------------

# Runs in the page before printing: open every <details>, add the title page and the
# table of contents (parts and chapters, with a marker text after each heading that the
# first print shows, so that the tool finds each chapter's page).
PREPARE_JS = r"""
(meta) => {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const article = document.querySelector("article.bd-article") || document.body;
  const esc = (s) => s.replace(/[&<>"]/g,
    (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  const entries = [];
  let n = 0;
  const heading = (sec) => sec.querySelector(":scope > h1, :scope > h2");
  const text = (h) => {
    const c = h.cloneNode(true);
    c.querySelectorAll(".headerlink, .fedmed-mark").forEach((e) => e.remove());
    return c.textContent.replace(/\s+/g, " ").trim();
  };
  const add = (sec, kind) => {
    const h = heading(sec);
    if (!h) return;
    n += 1;
    if (!sec.id) sec.id = "fedmed-sec-" + n;
    const mark = "FMKMARK" + String(n).padStart(3, "0");
    entries.push({kind, id: sec.id, title: text(h), mark});
    const m = document.createElement("span");
    m.className = "fedmed-mark";
    m.textContent = mark;
    m.style.cssText = "font-size:2px;color:#fff;letter-spacing:0;";
    h.appendChild(m);
  };
  const top = article.querySelectorAll(":scope > section, :scope > div > section");
  top.forEach((sec) => {
    if (sec.classList.contains("fedmed-part")) {
      add(sec, "part");
      sec.querySelectorAll(":scope > section, :scope > div > section")
        .forEach((ch) => add(ch, "chapter"));
    } else {
      add(sec, "part");
    }
  });
  const title = document.createElement("section");
  title.className = "fedmed-titlepage";
  title.innerHTML = `<h1 class="fedmed-title">${esc(meta.title)}</h1>`
    + (meta.subtitle ? `<div class="fedmed-subtitle">${esc(meta.subtitle)}</div>` : "")
    + `<div class="fedmed-meta">${esc(meta.author)}<br>${esc(meta.edition)}`
    + `<br>${esc(meta.date)}</div>`;
  const contents = document.createElement("section");
  contents.className = "fedmed-contents";
  contents.id = "fedmed-contents";
  contents.innerHTML = `<h1>${esc(meta.contents)}</h1><ol>` + entries.map((e) =>
    `<li class="fedmed-toc-${e.kind}"><a href="#${esc(e.id)}">`
    + `<span class="fedmed-toc-title">${esc(e.title)}</span><span class="fedmed-toc-dots"></span>`
    + `<span class="fedmed-toc-page" data-mark="${e.mark}">000</span></a></li>`
  ).join("") + "</ol>";
  article.prepend(contents);
  article.prepend(title);
  return entries;
}
"""

FILL_JS = r"""
(pages) => {
  document.querySelectorAll(".fedmed-mark").forEach((m) => m.remove());
  document.querySelectorAll(".fedmed-toc-page").forEach((s) => {
    const p = pages[s.dataset.mark];
    s.textContent = p ? String(p) : "";
  });
}
"""


def _page_templates(title: str) -> tuple[str, str]:
    style = "font-family: 'Noto Sans', 'Noto Sans CJK SC', sans-serif; font-size: 8px; color: #555;"
    header = (f'<div style="{style} width: 100%; padding: 0 15mm; text-align: right;">'
              f"{title}</div>")
    footer = (f'<div style="{style} width: 100%; text-align: center;">'
              '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
    return header, footer


def marker_pages(pdf: Path) -> dict[str, int]:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    pages: dict[str, int] = {}
    for number, page in enumerate(text.split("\f"), start=1):
        for mark in re.findall(r"FMKMARK\d{3}", page):
            pages.setdefault(mark, number)
    return pages


def print_pdf(html: Path, pdf: Path, meta: dict[str, str], page_numbers: bool = True,
              math_timeout_s: float = 240) -> dict:
    from playwright.sync_api import sync_playwright

    header, footer = _page_templates(meta["title"])
    options = {
        "format": "A4", "print_background": True, "outline": True, "tagged": True,
        "display_header_footer": True, "header_template": header, "footer_template": footer,
        "margin": {"top": "16mm", "bottom": "16mm", "left": "16mm", "right": "16mm"},
    }
    stats: dict = {}
    cpu0 = _children_cpu()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.emulate_media(media="print")
        t0 = time.perf_counter()
        page.goto(html.as_uri(), wait_until="load", timeout=120_000)
        # fedmed-math.js marks <html data-fedmed-math="ready"> once MathJax has typeset
        # every formula (and measured it).
        page.wait_for_function(
            "document.documentElement.dataset.fedmedMath === 'ready'",
            timeout=math_timeout_s * 1000,
        )
        stats["typeset_s"] = round(time.perf_counter() - t0, 1)
        leftover = page.evaluate(
            "() => [...document.querySelectorAll('.math, .bd-article p')]"
            ".filter(e => !e.querySelector('mjx-container')"
            " && /\\$\\$|\\\\frac/.test(e.textContent)).length"
        )
        stats["untypeset_blocks"] = leftover
        entries = page.evaluate(PREPARE_JS, meta)
        pages: dict[str, int] = {}
        if page_numbers:
            first = pdf.with_suffix(".pass1.pdf")
            t1 = time.perf_counter()
            # The first print only finds the pages (same page size and margins, so the same
            # layout): no outline, no tags, no header or footer, which makes it cheaper.
            page.pdf(path=str(first), **{**options, "outline": False, "tagged": False,
                                         "display_header_footer": False})
            stats["pass1_s"] = round(time.perf_counter() - t1, 1)
            pages = marker_pages(first)
            first.unlink()
            missing = [e["title"] for e in entries if e["mark"] not in pages]
            if missing:
                log(f"no page found for {len(missing)} contents entries: {missing[:5]}")
        page.evaluate(FILL_JS, pages)
        t2 = time.perf_counter()
        page.pdf(path=str(pdf), **options)
        stats["pass2_s"] = round(time.perf_counter() - t2, 1)
        stats["print_s"] = round(time.perf_counter() - t0 - stats["typeset_s"], 1)
        stats["contents"] = [{"kind": e["kind"], "title": e["title"], "page": pages.get(e["mark"])}
                             for e in entries]
        browser.close()
    # Chromium's processes are the Playwright driver's children: their CPU time is
    # counted here once the driver has exited.
    stats["chromium_cpu_s"] = round(_children_cpu() - cpu0, 1)
    return stats


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def build(lang: str, src_zh: Path, copy_to: Path | None, print_only: bool = False,
          page_numbers: bool = True) -> Path:
    t0 = time.perf_counter()
    if print_only:  # re-print the last single page (while working on the print layout)
        src = PDF_SRC / lang
        shutil.copy(ROOT / "book" / "_pdf" / "fedmed-print.css",
                    OUT / lang / "site" / "_build" / "singlehtml" / "_static" / "fedmed-print.css")
        root = yaml.safe_load((src / "_toc.yml").read_text(encoding="utf-8"))["root"]
        html = OUT / lang / "site" / "_build" / "singlehtml" / f"{root}.html"
        t_stage = 0.0
    else:
        src = stage(lang, src_zh)
        t_stage = time.perf_counter() - t0
        html = build_single(src, lang)
    t_sphinx = time.perf_counter() - t0 - t_stage
    config = yaml.safe_load((src / "_config.yml").read_text(encoding="utf-8"))
    edition = EDITION[lang]
    meta = {
        "title": str(config.get("title", "FedMed")),
        "subtitle": "",
        "author": str(config.get("author", "")),
        "edition": edition["label"],
        "date": dt.date.today().isoformat(),
        "contents": edition["contents"],
    }
    pdf = OUT / f"fedmed-{lang}.pdf"
    stats = print_pdf(html, pdf, meta, page_numbers=page_numbers)
    stats.update(lang=lang, pages=pdf_pages(pdf), stage_s=round(t_stage, 1),
                 sphinx_s=round(t_sphinx, 1), total_s=round(time.perf_counter() - t0, 1))
    (OUT / f"fedmed-{lang}.json").write_text(json.dumps(stats, ensure_ascii=False, indent=1),
                                              encoding="utf-8")
    log(f"{lang}: {pdf.relative_to(ROOT)}: {stats['pages']} pages in {stats['total_s']} s "
        f"(stage {stats['stage_s']} s, Sphinx {stats['sphinx_s']} s, MathJax "
        f"{stats['typeset_s']} s, print {stats['print_s']} s)")
    if copy_to is not None:
        copy_to.mkdir(parents=True, exist_ok=True)
        shutil.copy(pdf, copy_to / pdf.name)
        log(f"{lang}: copied to {copy_to / pdf.name}")
    return pdf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", action="append", choices=sorted(EDITION),
                        help="edition to build (repeatable; default: en)")
    parser.add_argument("--src", type=Path, default=ROOT / "_build" / "src_zh",
                        help="the staged Chinese book (default: _build/src_zh)")
    parser.add_argument("--copy-to", type=Path, default=None,
                        help="also copy each PDF here (e.g. _build/site/_build/html)")
    parser.add_argument("--print-only", action="store_true",
                        help="print the last single-page build again (no staging, no Sphinx)")
    parser.add_argument("--no-page-numbers", action="store_true",
                        help="print once: the contents get no page numbers (links and "
                        "bookmarks stay); saves the first of the two prints")
    args = parser.parse_args(argv)
    for lang in args.lang or ["en"]:
        build(lang, args.src.resolve(), args.copy_to, print_only=args.print_only,
              page_numbers=not args.no_page_numbers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
