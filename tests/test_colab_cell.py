"""The first cell of every chapter installs the helper library on Colab, and only there.

AUTHORING.md defines the cell; every notebook in the table of contents must start with
exactly that text, the URL it installs from must be the repository URL of
book/_config.yml (the one place where it is written down), and executing the cell
outside Colab must not call pip, while on Colab it must.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    return [
        ROOT / (ch["file"] + ".ipynb")
        for part in toc.get("parts", [])
        for ch in part.get("chapters", [])
        if ch["file"].startswith("notebooks/")
    ]


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    return str(config["repository"]["url"]).rstrip("/")


def authoring_cell() -> str:
    """The Colab cell as AUTHORING.md writes it (the first python block after 'Colab cell')."""
    text = (ROOT / "AUTHORING.md").read_text(encoding="utf-8")
    after = text[text.index("**Colab cell**"):]
    block = re.search(r"```python\n(.*?)```", after, re.S)
    assert block is not None, "AUTHORING.md: no python block after **Colab cell**"
    lines = block.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines).strip()


def expected_cell() -> str:
    return (
        "# Colab only: install the book's helper library (skipped everywhere else).\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "fedmed-lib @ git+{repository_url()}"'
    )


NOTEBOOKS = toc_notebooks()


def test_authoring_defines_the_cell_with_the_configured_url() -> None:
    assert authoring_cell() == expected_cell(), (
        "AUTHORING.md's Colab cell differs from the one built from book/_config.yml's "
        f"repository url ({repository_url()})"
    )


def test_toc_has_notebooks() -> None:
    assert len(NOTEBOOKS) >= 1, "no notebook in book/_toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_the_colab_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code", f"{path.name}: the first cell is {first.cell_type}, not code"
    assert first.source.strip() == expected_cell(), (
        f"{path.name}: the first cell is not exactly AUTHORING.md's Colab cell"
    )
    urls = re.findall(r"git\+(\S+?)\"", first.source)
    assert urls == [repository_url()], f"{path.name}: installs from {urls}, not {repository_url()}"
    others = [c.source for c in nb.cells[1:] if "google.colab" in c.source]
    assert others == [], f"{path.name}: a second cell mentions google.colab"


class _FakeIPython:
    """Records the magics a cell would run instead of running them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1) -> None:
        self.calls.append((name, line))

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        self.calls.append((name, line))

    def system(self, cmd: str) -> None:
        self.calls.append(("system", cmd))

    def getoutput(self, cmd: str) -> list[str]:
        self.calls.append(("getoutput", cmd))
        return []


def _run_cell(source: str) -> list[tuple[str, str]]:
    code = TransformerManager().transform_cell(source)
    shell = _FakeIPython()
    exec(compile(code, "<colab cell>", "exec"), {"get_ipython": lambda: shell})
    return shell.calls


def test_cell_does_nothing_outside_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert _run_cell(expected_cell()) == [], "the Colab cell ran a magic outside Colab"


def test_cell_installs_on_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same cell, with a fake google.colab module imported, calls pip once."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = _run_cell(expected_cell())
    assert calls == [("pip", f'install -q "fedmed-lib @ git+{repository_url()}"')], calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_cell_is_silent_outside_colab(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    source = nbformat.read(path, as_version=4).cells[0].source
    assert _run_cell(source) == [], f"{path.name}: the first cell runs a magic outside Colab"
