"""Stage the book for Jupyter Book 1: book/ pages plus the executed notebooks.

Jupyter Book only includes files under its source folder, and the notebooks are
executed once before the build (by `tools/run_notebooks.py` or the nbval run of
`make test`). This script copies `book/` to `_build/src/` and, for every notebook
in the table of contents, its executed copy from `_build/executed/notebooks/` to
`_build/src/notebooks/`. It refuses an executed copy whose cells no longer match
the source notebook (stale), so the site never shows outputs of old code.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "_build" / "src"
EXECUTED = ROOT / "_build" / "executed" / "notebooks"


def toc_files(toc: dict) -> list[str]:
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
            files.extend(s["file"] for s in ch.get("sections", []))
    return files


def main() -> int:
    if SRC.exists():
        shutil.rmtree(SRC)
    shutil.copytree(ROOT / "book", SRC)
    if not (SRC / "_vendor" / "mathjax" / "tex-chtml.js").exists():
        print("MathJax is missing from book/_vendor/mathjax: run `make mathjax`", file=sys.stderr)
        return 1
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    (SRC / "notebooks").mkdir()
    problems = []
    for f in toc_files(toc):
        if not f.startswith("notebooks/"):
            continue
        name = Path(f).name + ".ipynb"
        source, executed = ROOT / "notebooks" / name, EXECUTED / name
        if not source.exists():
            problems.append(f"{name}: listed in book/_toc.yml but notebooks/{name} is missing")
            continue
        if not executed.exists():
            problems.append(f"{name}: not executed yet (run `make execute`)")
            continue
        a = nbformat.read(source, as_version=4)
        b = nbformat.read(executed, as_version=4)
        if [c.source for c in a.cells] != [c.source for c in b.cells]:
            problems.append(f"{name}: the executed copy is stale (run `make execute`)")
            continue
        errors = [
            o for c in b.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"
        ]
        if errors:
            problems.append(f"{name}: the executed copy has an error output (run `make execute`)")
            continue
        shutil.copy(executed, SRC / "notebooks" / name)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
