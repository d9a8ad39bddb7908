"""Pages quote measured numbers through substitutions that the executed chapters define.

`tools/stage_book.py` turns every value a notebook glues (MyST-NB `glue`) and every
notebook's measured time into MyST substitutions. These tests check, without
executing anything, that every `{{ name }}` on a page has a source, and that the
staging code really reads glued values and timings (so the build cannot quietly
show a blank).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import stage_book  # noqa: E402

PAGES = sorted((ROOT / "book").glob("*.md"))


def _glue_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                for name in re.findall(r"""glue\(\s*["']([\w]+)["']""", cell.source):
                    names[name] = path.stem
    return names


def _glue_prefixes() -> dict[str, str]:
    """Names glued with an f-string (``glue(f"ch05_rounds_{key}", ...)``): their fixed prefix.

    A page may use any name with such a prefix; the strict build (tools/stage_book.py)
    then fails if the executed notebook does not glue that exact name.
    """
    prefixes: dict[str, str] = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                for prefix in re.findall(r"""glue\(\s*f["']([\w]+)\{""", cell.source):
                    prefixes[prefix] = path.stem
    return prefixes


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_substitution_has_a_source(page: Path) -> None:
    glued = _glue_names()
    prefixes = _glue_prefixes()
    stems = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    for name in stage_book.SUBSTITUTION.findall(page.read_text(encoding="utf-8")):
        if name.startswith("seconds_"):
            assert name.removeprefix("seconds_") in stems, f"{page.name}: {name}: no such notebook"
        else:
            assert name in glued or any(name.startswith(p) for p in prefixes), (
                f"{page.name}: {{{{ {name} }}}} is glued by no notebook"
            )


def test_glue_names_are_prefixed_with_their_chapter() -> None:
    for name, stem in {**_glue_names(), **_glue_prefixes()}.items():
        assert name.startswith(f"ch{stem[:2]}_"), f"{stem}: glue name {name!r} lacks ch{stem[:2]}_"


def test_glued_values_are_read_from_executed_outputs() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("glue(...)")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"application/papermill.record/text/plain": "'0.78'"},
            metadata={"scrapbook": {"name": "ch15_x", "mime_prefix": "application/papermill.record/"}},
        ),
        nbformat.v4.new_output(
            "display_data",
            data={"application/papermill.record/text/plain": "3"},
            metadata={"scrapbook": {"name": "ch15_n", "mime_prefix": "application/papermill.record/"}},
        ),
    ]
    assert stage_book.glued_values(nb) == {"ch15_x": "0.78", "ch15_n": "3"}


def test_unknown_substitution_fails_the_staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "page.md").write_text("value {{ ch99_missing }} and {{ ch15_x }}\n")
    monkeypatch.setattr(stage_book, "SRC", tmp_path)
    problems: list[str] = []
    stage_book.write_substitutions({"ch15_x": "0.78", "seconds_01_a": "4"}, problems)
    assert len(problems) == 1 and "ch99_missing" in problems[0]
    import yaml

    config = yaml.safe_load((tmp_path / "_config.yml").read_text())
    assert config["parse"]["myst_substitutions"] == {"ch15_x": "0.78", "seconds_01_a": "4"}


def test_timings_are_merged_not_replaced(tmp_path: Path) -> None:
    from timing import check_and_print

    path = tmp_path / "timings.json"
    import io

    check_and_print({"01_a.ipynb": 4.0, "02_b.ipynb": 5.0}, path, file=io.StringIO())
    check_and_print({"02_b.ipynb": 7.0}, path, file=io.StringIO())
    assert json.loads(path.read_text()) == {"01_a.ipynb": 4.0, "02_b.ipynb": 7.0}
