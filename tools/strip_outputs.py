"""Strip outputs from notebooks before committing (keeps `# NBVAL_CHECK_OUTPUT` cells).

Usage: python tools/strip_outputs.py notebooks/*.ipynb   [--check]
With --check, exits 1 if a notebook would change (used by the tests).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat


def strip(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", []))
        pinned = src.lstrip().startswith("# NBVAL_CHECK_OUTPUT")
        if not pinned:
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            # nbval skips pinned cells without an execution count ("unrun"), so keep
            # a fixed one: 1.
            cell["execution_count"] = 1 if cell.get("outputs") else None
            for out in cell.get("outputs", []):
                if out.get("output_type") == "execute_result":
                    out["execution_count"] = 1
    md = nb.get("metadata", {})
    md["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    md.pop("widgets", None)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"]
    changed = []
    for p in paths:
        text = p.read_text(encoding="utf-8")
        nb = strip(json.loads(text))
        new = nbformat.writes(nbformat.from_dict(nb))
        new += "" if new.endswith("\n") else "\n"
        if new != text:
            changed.append(str(p))
            if not check:
                p.write_text(new, encoding="utf-8")
    if check and changed:
        print("notebooks with outputs or metadata to strip:", *changed, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
