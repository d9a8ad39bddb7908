"""Every chapter in the table of contents meets the book's chapter standard.

Structure only (the nbval run executes them): learning objectives, a summary,
at least three exercises each with a folded solution, assert cells, a pinned
headline cell, a self-check exercise, and no committed outputs except the pinned
cells.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = []
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            if ch["file"].startswith("notebooks/"):
                files.append(ROOT / (ch["file"] + ".ipynb"))
    return files


NOTEBOOKS = toc_notebooks()


def test_toc_lists_every_chapter_notebook() -> None:
    on_disk = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    listed = sorted(p.name for p in NOTEBOOKS)
    assert on_disk == listed, f"notebooks/ and book/_toc.yml disagree: {on_disk} vs {listed}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_standard(path: Path) -> None:
    assert path.exists(), f"{path.name} is in the table of contents but missing"
    nb = nbformat.read(path, as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert re.search(r"^\(ch-[a-z0-9-]+\)=", md, re.M), "no (ch-...)= label for the chapter"
    assert re.search(r"^## Learning objectives", md, re.M), "no '## Learning objectives'"
    assert re.search(r"^## Summary", md, re.M), "no '## Summary'"
    assert re.search(r"^## Exercises", md, re.M), "no '## Exercises'"
    exercises = re.findall(r"(?:`{3,}|:{3,})\{exercise\}[^\n]*\n:label: ([\w-]+)", md)
    solutions = re.findall(
        r"(?:`{3,}|:{3,})\{solution(?:-start)?\} ([\w-]+)\n(?::[^\n]*\n)*?:class: dropdown", md
    )
    assert len(exercises) >= 3, f"only {len(exercises)} exercises"
    missing = set(exercises) - set(solutions)
    assert not missing, f"exercises without a folded (dropdown) solution: {sorted(missing)}"
    assert any(re.search(r"^\s*assert ", s, re.M) for s in code), "no assert cell"
    assert any(s.lstrip().startswith("# NBVAL_CHECK_OUTPUT") for s in code), "no pinned cell"
    assert "fedmed_lib.check" in md + "\n".join(code), "no self-check exercise (fedmed_lib.check)"
    assert code and "google.colab" in code[0], "the first cell is not the Colab install cell"


ZH_NOTEBOOKS = [ROOT / "book" / "zh" / "notebooks" / p.name for p in NOTEBOOKS]
SOLUTION_DROPDOWN = re.compile(r"(`{3,})\{solution\}.*?\n\1(?!`)", re.S)


@pytest.mark.parametrize("path", NOTEBOOKS + ZH_NOTEBOOKS,
                         ids=lambda p: "/".join(p.parts[-3:]) if "zh" in p.parts else p.name)
def test_solutions_are_written_one_way(path: Path) -> None:
    """A solution's code runs as the reader sees it (AUTHORING.md, "one way to write a solution").

    No code block inside a Markdown ``{solution}`` (code goes in executable cells between
    ``{solution-start}`` and ``{solution-end}``) and no hidden code cell that could retype it.
    """
    if not path.exists():
        pytest.skip(f"{path.name} not translated")
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for block in SOLUTION_DROPDOWN.finditer(cell.source):
                body = block.group(0)
                assert not re.search(r"```|~~~|\n {4,}\S", body[3:-3]), (
                    f"cell {i}: a {{solution}} dropdown holds code; make it executable cells "
                    "between {solution-start} and {solution-end}"
                )
        else:
            tags = set(cell.metadata.get("tags", []))
            hidden = tags & {"remove-cell", "hide-cell", "remove-input"}
            assert not hidden, f"cell {i}: hidden code cell ({sorted(hidden)}) in a chapter"


def test_notebooks_committed_without_outputs() -> None:
    paths = [str(p) for p in NOTEBOOKS if p.exists()]
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "strip_outputs.py"), "--check", *paths],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


FIGURE_CALL = re.compile(r"plt\.show\(|display\(Draw\.|MolsToGridImage|DrawMorganBit")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_alt_text(path: Path) -> None:
    """A figure's alt text says what it shows (MyST-NB reads it from the cell's metadata
    `mystnb.image.alt`); without it a screen reader reads the image's file name."""
    nb = nbformat.read(path, as_version=4)
    missing = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not FIGURE_CALL.search(cell.source):
            continue
        alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
        if len(alt.split()) < 8 or re.search(r"\.(png|svg|jpe?g)\b", alt):
            missing.append(i)
    assert missing == [], (
        f"{path.name}: figure cells {missing} need alt text that says what the figure shows "
        "(cell metadata mystnb.image.alt, at least eight words)"
    )
