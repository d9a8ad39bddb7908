"""Stage the book for Jupyter Book 1: book/ pages plus the executed notebooks.

Jupyter Book only includes files under its source folder, and the notebooks are
executed once before the build (by `tools/run_notebooks.py` or the nbval run of
`make test`). This script copies `book/` to `_build/src/` and, for every notebook
in the table of contents, its executed copy from `_build/executed/notebooks/` to
`_build/src/notebooks/`. It refuses an executed copy whose cells no longer match
the source notebook (stale), so the site never shows outputs of old code.

Pages quote measured numbers without typing them in. A notebook publishes a number
with MyST-NB's ``glue("chNN_name", "0.78", display=False)``; this script collects
every glued value from the executed notebooks, together with each notebook's
measured execution time (``_build/timings.json``, as ``seconds_NN_slug``), and
writes them into the staged ``_config.yml`` as MyST substitutions, so that a page
writes ``{{ ch15_auroc_fedavg }}`` and always shows what the executed chapter
printed. A page that uses a name no notebook defines fails the build.

``--partial`` (for trying the build while some chapters are being rewritten) leaves
out of the staged table of contents every chapter without a current executed copy and
shows ``(not executed)`` for the numbers it glues, instead of failing. ``--lang zh``
stages the Chinese edition instead (``tools/stage_zh.py``, into ``_build/src_zh``).
"""

from __future__ import annotations

import ast
import json
import re
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


def glued_values(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Return ``{name: text}`` for every value a notebook glued with MyST-NB's ``glue``."""
    out: dict[str, str] = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            text = o.get("data", {}).get("application/papermill.record/text/plain")
            if name and text is not None:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    value = text
                out[name] = str(value)
    return out


SUBSTITUTION = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\s*\}\}")


def write_substitutions(values: dict[str, str], problems: list[str]) -> None:
    """Add ``values`` to the staged _config.yml; report pages that use unknown names."""
    for page in sorted(SRC.glob("*.md")):
        for name in SUBSTITUTION.findall(page.read_text(encoding="utf-8")):
            if name not in values:
                problems.append(
                    f"{page.name}: {{{{ {name} }}}} is glued by no executed notebook "
                    "(and is not a notebook's time seconds_NN_slug)"
                )
    config_path = SRC / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config.setdefault("parse", {})["myst_substitutions"] = dict(sorted(values.items()))
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--lang" in args and args[args.index("--lang") + 1 :][:1] == ["zh"]:
        import stage_zh

        return stage_zh.main([a for a in args if a not in ("--lang", "zh")])
    partial = "--partial" in args
    if SRC.exists():
        shutil.rmtree(SRC)
    shutil.copytree(ROOT / "book", SRC)
    if not (SRC / "_vendor" / "mathjax" / "tex-chtml.js").exists():
        print("MathJax is missing from book/_vendor/mathjax: run `make mathjax`", file=sys.stderr)
        return 1
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    (SRC / "notebooks").mkdir()
    problems: list[str] = []
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    left_out: set[str] = set()
    timings_path = ROOT / "_build" / "timings.json"
    if timings_path.exists():
        for nb_name, seconds in json.loads(timings_path.read_text()).items():
            values[f"seconds_{Path(nb_name).stem}"] = f"{seconds:.0f}"
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
            if partial:
                left_out.add(f)
                print(f"stage_book --partial: left out {f} (stale executed copy)", file=sys.stderr)
                continue
            problems.append(f"{name}: the executed copy is stale (run `make execute`)")
            continue
        errors = [
            o for c in b.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"
        ]
        if errors:
            problems.append(f"{name}: the executed copy has an error output (run `make execute`)")
            continue
        for key, value in glued_values(b).items():
            if key in origin:
                problems.append(f"{name}: glue name {key!r} is also glued by {origin[key]}")
            origin[key] = name
            values[key] = value
        shutil.copy(executed, SRC / "notebooks" / name)
    if partial:
        for page in sorted(SRC.glob("*.md")):
            for key in SUBSTITUTION.findall(page.read_text(encoding="utf-8")):
                values.setdefault(key, "(not executed)")
        for part in toc.get("parts", []):
            part["chapters"] = [c for c in part.get("chapters", []) if c["file"] not in left_out]
        (SRC / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False, allow_unicode=True))
    write_substitutions(values, problems)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
