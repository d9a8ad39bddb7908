"""The library reference (book/api/) documents every public name of fedmed_lib.

A *public name* is one that a module defines at top level (a function, a class or an
assignment) and that does not start with an underscore; names a module imports are
documented where they are defined. These tests compute that list from the source,
independently of the Sphinx extension that writes the pages
(``book/_ext/fedmed_api.py``), and check without building anything that:

- every module of the library is documented on exactly one page of book/api/, and
  every such page is in the table of contents;
- the entries written for each module are exactly its public names, so a new public
  function cannot be left out silently (the strict build checks the same on the
  built site, and the browser test on the HTML);
- every chapter that a docstring links to ("Introduced in :ref:`ch-fedsgd`") exists.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "fedmed_lib"
API = ROOT / "book" / "api"
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import fedmed_api  # noqa: E402

MODULE_DIRECTIVE = re.compile(r"^\.\. fedmed-module:: (\S+)\s*\n((?:[ \t]+:[\w-]+:.*\n)*)", re.M)
ENTRY = re.compile(r"^\.\. (?:autofunction|autoclass|py:data|py:type):: (\w+)", re.M)


def modules_from_files() -> list[str]:
    """Every module of fedmed_lib whose dotted name has no part starting with ``_``."""
    out = []
    for path in sorted(LIB.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if not any(p.startswith("_") for p in parts[1:]):
            out.append(".".join(parts))
    return out


def source_of(modname: str) -> Path:
    path = ROOT.joinpath(*modname.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def defined_names(modname: str) -> set[str]:
    """Names defined at the top level of a module (also inside top-level if/try), not imported."""
    tree = ast.parse(source_of(modname).read_text(encoding="utf-8"))
    names: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return names


def defined_public_names(modname: str) -> set[str]:
    return {n for n in defined_names(modname) if not n.startswith("_")}


def documented_modules() -> dict[str, list[str]]:
    """``{module: [pages]}`` for every ``.. fedmed-module::`` (without ``:only:``) in book/api/."""
    found: dict[str, list[str]] = {}
    for page in sorted(API.glob("*.md")):
        for m in MODULE_DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            if ":only:" not in m.group(2):
                found.setdefault(m.group(1), []).append(page.name)
    return found


def test_the_module_list_agrees_with_the_extension() -> None:
    assert fedmed_api.library_modules() == modules_from_files()


def test_every_module_is_documented_on_exactly_one_page() -> None:
    documented = documented_modules()
    missing = [m for m in modules_from_files() if m not in documented]
    assert missing == [], (
        f"modules on no page of the library reference: {missing}. Add a page book/api/NAME.md "
        "with an {eval-rst} block `.. fedmed-module:: MODULE` (or a section of an existing page) "
        "and list the page in book/_toc.yml under api/index."
    )
    twice = {m: pages for m, pages in documented.items() if len(pages) > 1}
    assert twice == {}, f"modules documented on more than one page: {twice}"
    unknown = sorted(set(documented) - set(modules_from_files()))
    assert unknown == [], f"book/api/ documents modules that do not exist: {unknown}"


def test_every_reference_page_is_in_the_table_of_contents() -> None:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = set()
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.add(ch["file"])
            files.update(s["file"] for s in ch.get("sections", []))
    pages = {f"api/{p.stem}" for p in API.glob("*.md")}
    assert "api/index" in files, "book/_toc.yml does not list the library reference (api/index)"
    assert sorted(pages - files) == [], "pages of book/api/ missing from book/_toc.yml"


def test_intro_links_to_the_reference() -> None:
    assert "{ref}`api`" in (ROOT / "book" / "intro.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("modname", modules_from_files())
def test_every_public_name_has_an_entry(modname: str) -> None:
    written = ENTRY.findall("\n".join(fedmed_api.module_rst(modname)))
    expected = defined_public_names(modname)
    assert sorted(expected - set(written)) == [], f"{modname}: public names without an entry"
    assert sorted(set(written) - expected) == [], f"{modname}: entries for names it does not define"
    assert len(written) == len(set(written)), f"{modname}: a name documented twice"


def test_private_and_imported_names_stay_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule on a module written for the test: what counts as public, what does not."""
    pkg = tmp_path / "toy_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(
        '"""Toy."""\n'
        "from math import sqrt\n"
        "import numpy as np\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from os import PathLike\n"
        "LIMIT = 3\n"
        '"""A documented constant."""\n'
        "Alias = list[int]\n"
        "_hidden = 1\n"
        "def visible(x: int) -> int:\n    '''Doc.'''\n    return x\n"
        "def _helper() -> None:\n    pass\n"
        "class Thing:\n    '''Doc.'''\n"
        "try:\n    FAST = True\nexcept ImportError:\n    FAST = False\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert fedmed_api.public_names("toy_pkg.mod") == [
        ("LIMIT", "data"), ("Alias", "data"), ("visible", "function"), ("Thing", "class"), ("FAST", "data"),
    ]
    rst = "\n".join(fedmed_api.module_rst("toy_pkg.mod"))
    assert ".. py:data:: LIMIT\n   :value: 3" in rst
    assert ".. py:type:: Alias\n   :value: list[int]" in rst
    assert ".. autofunction:: visible" in rst and ".. autoclass:: Thing" in rst
    assert "sqrt" not in rst and "_helper" not in rst and "PathLike" not in rst


def test_chapter_links_are_numbered_references() -> None:
    assert fedmed_api.chapter_links("Introduced in :ref:`ch-fedsgd`.") == (
        "Introduced in :numref:`Chapter {number}, {name} <ch-fedsgd>`."
    )
    # Other labels keep their :ref: (an exercise, a section).
    assert fedmed_api.chapter_links(":ref:`ex-fedsgd-1`") == ":ref:`ex-fedsgd-1`"


def _labels_in_the_book() -> set[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
            files.extend(s["file"] for s in ch.get("sections", []))
    labels: set[str] = set()
    for f in files:
        nb = ROOT / (f + ".ipynb")
        page = ROOT / "book" / (f + ".md")
        if f.startswith("notebooks/") and nb.exists():
            text = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"])
        elif page.exists():
            text = page.read_text(encoding="utf-8")
        else:
            continue
        labels.update(re.findall(r"^\(([\w-]+)\)=", text, re.M))
    return labels


def test_every_chapter_a_docstring_links_to_exists() -> None:
    labels = _labels_in_the_book()
    bad = set()
    for modname in modules_from_files():
        text = source_of(modname).read_text(encoding="utf-8")
        for label in re.findall(r":ref:`(ch-[\w-]+)`", text):
            if label not in labels:
                bad.add(f"{modname}: {label}")
    assert sorted(bad) == [], f"docstrings link to chapters that no page of the table of contents defines: {bad}"


def test_the_library_imports_each_name_from_where_it_lives() -> None:
    """One path: inside fedmed_lib, ``from fedmed_lib.X import name`` only when X defines
    name (the re-exports that keep old import paths working are for readers' code)."""
    bad = []
    for path in sorted(LIB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fedmed_lib")):
                continue
            source = source_of(node.module)
            if source.name == "__init__.py":
                continue  # a package's namespace (fedmed_lib.check, ...) is its interface
            defined = defined_names(node.module)
            bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {a.name} from {node.module}"
                    for a in node.names if a.name not in defined]
    assert bad == [], "names imported through a re-export:\n" + "\n".join(bad)
