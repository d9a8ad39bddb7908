"""The PDF editions (tools/build_pdf.py): checks of the built PDFs, in English and Chinese.

The PDFs are built by ``tools/build_pdf.py`` (``make pdf``), not by these tests; a PDF
that has not been built is skipped with the command that builds it. Read with
poppler's ``pdftotext`` and ``pdfinfo``: the title page, the table of contents with page
numbers, the bookmarks, every chapter of ``book/_toc.yml`` by its title, the
exercises' solutions printed open, page numbers in the footer, no TeX left untypeset,
the glossary's Chinese terms in the Chinese edition, and a page count in range.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "pdf"
STAGED = ROOT / "_build" / "pdf_src"
LANGS = ["en", "zh"]
# 369 pages for the English edition with 17 chapters (December 2026); each chapter
# adds 10-20 pages. Outside this range the print layout or the content went wrong.
PAGE_RANGE = (200, 900)
CONTENTS = {"en": "Contents", "zh": "目录"}

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None,
    reason="poppler-utils (pdftotext, pdfinfo) is not installed",
)


def _pdf(lang: str) -> Path:
    pdf = OUT / f"fedmed-{lang}.pdf"
    if not pdf.exists():
        pytest.skip(f"{pdf.relative_to(ROOT)} is not built: run "
                    f"`.venv/bin/python tools/build_pdf.py --lang {lang}` (make pdf)")
    return pdf


@cache
def _pages(pdf: Path) -> tuple[str, ...]:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    return tuple(text.split("\f")[:-1] if text.endswith("\f") else text.split("\f"))


def _flat(text: str) -> str:
    """Text without any whitespace (pdftotext breaks lines, Chinese has no spaces)."""
    return re.sub(r"\s+", "", text)


def _info(pdf: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def _title(md: str) -> str:
    for line in md.splitlines():
        if line.startswith("# "):
            title = line[2:]
            title = re.sub(r"\{[a-z:]+\}`([^`<]*?)(?:\s*<[^>]*>)?`", r"\1", title)  # roles
            return re.sub(r"[`*_]", "", title).strip()
    return ""


def chapter_titles(lang: str) -> dict[str, str]:
    """Every chapter of book/_toc.yml with its title, in the edition's language."""
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    titles: dict[str, str] = {}
    for part in toc["parts"]:
        for ch in part["chapters"]:
            if not ch["file"].startswith("notebooks/"):
                continue
            name = ch["file"].split("/")[-1] + ".ipynb"
            path = STAGED / lang / "notebooks" / name  # what the PDF was built from
            if not path.exists():
                titles[name] = ""
                continue
            nb = nbformat.read(path, as_version=4)
            md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
            titles[name] = _title(md)
    return titles


def glossary_chinese_terms() -> list[str]:
    """The Chinese term(s) of every entry of book/glossary.md (the definition's first words)."""
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    block = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    terms: list[str] = []
    for line in block.splitlines():
        m = re.match(r"^  (\S[^.]*?)\. ", line)
        if m and re.search(r"[\u4e00-\u9fff]", m.group(1)):
            terms.extend(t.strip() for t in m.group(1).split("/") if t.strip())
    return terms


def test_glossary_terms_are_parsed() -> None:
    terms = glossary_chinese_terms()
    assert len(terms) >= 40, terms
    assert "联邦学习" in terms and "加法秘密共享" in terms


@pytest.mark.parametrize("lang", LANGS)
def test_page_count_in_range(lang: str) -> None:
    pages = int(_info(_pdf(lang))["Pages"].strip())
    assert PAGE_RANGE[0] <= pages <= PAGE_RANGE[1], f"{lang}: {pages} pages"


@pytest.mark.parametrize("lang", LANGS)
def test_title_page_contents_and_bookmarks(lang: str) -> None:
    pdf = _pdf(lang)
    pages = _pages(pdf)
    assert "FedMed" in pages[0], pages[0][:300]
    contents = next((i for i, p in enumerate(pages[:6]) if CONTENTS[lang] in p), None)
    assert contents is not None, f"no '{CONTENTS[lang]}' page among the first pages"
    numbers = [int(n) for n in re.findall(r"^\s*(\d+)\s*$", pages[contents], re.M)]
    numbers = [n for n in numbers if n > contents]  # the contents' page numbers
    assert len(numbers) >= 10 and numbers == sorted(numbers), numbers
    assert b"/Outlines" in pdf.read_bytes(), "the PDF has no bookmarks (outline)"


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_is_numbered(lang: str) -> None:
    pages = _pages(_pdf(lang))
    total = len(pages)
    for i in (1, total // 2, total - 1):
        assert re.search(rf"\b{i + 1}\s*/\s*{total}\b", pages[i]), f"page {i + 1}: no '{i + 1} / {total}'"


@pytest.mark.parametrize("lang", LANGS)
def test_every_chapter_is_in_the_pdf(lang: str) -> None:
    text = _flat("\n".join(_pages(_pdf(lang))))
    titles = chapter_titles(lang)
    left_out = [name for name, title in titles.items() if not title]
    assert not left_out, f"{lang}: not staged for the PDF (missing or stale executed copy): {left_out}"
    missing = [f"{name}: {title}" for name, title in titles.items() if _flat(title) not in text]
    assert not missing, f"{lang}: chapter titles not found in the PDF: {missing}"


@pytest.mark.parametrize("lang", LANGS)
def test_no_raw_tex(lang: str) -> None:
    """MathJax typeset every formula: no TeX source is left in the text.

    Code may hold TeX for matplotlib labels, written ``"$\\\\sum_k$"`` in a Python string
    (two backslashes on the page): a command counts only after a single backslash.
    """
    pages = _pages(_pdf(lang))
    for pattern in (r"\$\$", r"(?<!\\)\\frac\b", r"(?<!\\)\\begin\{", r"(?<!\\)\\sum_"):
        hits = [i + 1 for i, p in enumerate(pages) if re.search(pattern, p)]
        assert not hits, f"{lang}: untypeset TeX {pattern!r} on pages {hits[:10]}"


@pytest.mark.parametrize("lang", LANGS)
def test_solutions_are_printed(lang: str) -> None:
    """Folded solutions are printed open: one solution per exercise, at least three a chapter."""
    text = "\n".join(_pages(_pdf(lang)))
    chapters = len(chapter_titles(lang))
    solutions = len(re.findall(r"Solution to|解答|习题.{0,12}的解", text))
    assert solutions >= 3 * chapters, f"{lang}: {solutions} solutions for {chapters} chapters"


def test_chinese_edition_has_the_glossary_terms() -> None:
    """Each Chinese run of every term (a table cell may break "Kaplan-Meier 估计（乘积极限估计）"
    over lines, interleaved with its neighbours, so the runs are looked up one by one)."""
    text = _flat("\n".join(_pages(_pdf("zh"))))
    missing = [t for t in glossary_chinese_terms()
               if not all(run in text for run in re.findall(r"[\u4e00-\u9fff]+", t))]
    assert not missing, f"Chinese terms of book/glossary.md not in the Chinese PDF: {missing}"


def test_chinese_edition_is_chinese() -> None:
    pages = _pages(_pdf("zh"))
    cjk = sum(len(re.findall(r"[\u4e00-\u9fff]", p)) for p in pages)
    assert cjk > 20_000, f"only {cjk} Chinese characters"


def test_prune_toc_leaves_out_what_is_not_staged(tmp_path: Path) -> None:
    """build_pdf.py leaves out chapters that are not staged (and says which)."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import build_pdf

    (tmp_path / "intro.md").write_text("# x")
    (tmp_path / "a.md").write_text("# a")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_x.ipynb").write_text("{}")
    toc = {"format": "jb-book", "root": "intro", "parts": [
        {"caption": "P", "chapters": [{"file": "notebooks/01_x"}, {"file": "notebooks/02_y"},
                                      {"file": "a", "sections": [{"file": "b"}]}]},
        {"caption": "Q", "chapters": [{"file": "zz"}]},
    ]}
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    assert build_pdf.prune_toc(tmp_path) == ["notebooks/02_y", "b", "zz"]
    kept = yaml.safe_load((tmp_path / "_toc.yml").read_text())
    assert kept["parts"] == [{"caption": "P", "chapters": [{"file": "notebooks/01_x"}, {"file": "a"}]}]


@pytest.mark.parametrize("lang", LANGS)
def test_library_reference_is_one_page_that_points_to_the_site(lang: str) -> None:
    """The printed book has one page where the site has the library reference."""
    text = _flat("\n".join(_pages(_pdf(lang))))
    assert _flat("api/index.html") in text, f"{lang}: no page says where the reference is"
    # A reference entry says which chapter introduced it; none is printed.
    assert "IntroducedinChapter" not in text, f"{lang}: the library reference is printed"


def test_reference_stub_replaces_the_reference_pages(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import build_pdf

    (tmp_path / "api").mkdir()
    for name in ("index", "aggregate", "types"):
        (tmp_path / "api" / f"{name}.md").write_text(f"# {name}\n```{{eval-rst}}\n.. x\n```\n")
    toc = {"format": "jb-book", "root": "intro", "parts": [
        {"caption": "Back", "chapters": [{"file": "glossary"}, {"file": "api/index", "sections": [
            {"file": "api/aggregate"}, {"file": "api/types"}]}]},
    ]}
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    assert build_pdf.reference_stub(tmp_path, "zh") == ["api/aggregate", "api/types"]
    kept = yaml.safe_load((tmp_path / "_toc.yml").read_text())
    assert kept["parts"][0]["chapters"] == [{"file": "glossary"}, {"file": "api/index"}]
    assert sorted(p.name for p in (tmp_path / "api").iterdir()) == ["index.md"]
    stub = (tmp_path / "api" / "index.md").read_text(encoding="utf-8")
    assert stub.startswith("(api)=\n# 库参考") and "eval-rst" not in stub
