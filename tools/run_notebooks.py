"""Execute notebooks, time them, and keep the executed copies for the book build.

Usage: python tools/run_notebooks.py [notebooks/NN_slug.ipynb ...] [--out DIR]

Each notebook runs in a fresh kernel from the `notebooks/` folder. Executed copies go
to DIR (default `_build/executed/notebooks`); timings to `_build/timings.json`. Prints
a timing table and exits non-zero if a notebook fails, takes more than 90 s, or all
of them together more than 8 minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from timing import check_and_print  # noqa: E402


def pin_outputs(path: Path, executed) -> None:
    """Copy pinned cells' outputs into the source notebook, strip all other outputs."""
    import nbformat
    from strip_outputs import strip

    src = nbformat.read(path, as_version=4)
    for cell, done in zip(src.cells, executed.cells, strict=True):
        if cell.cell_type == "code" and cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
            cell.outputs = done.outputs
            cell.execution_count = done.execution_count
    text = nbformat.writes(nbformat.from_dict(strip(dict(src))))
    path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")


def main() -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    ap = argparse.ArgumentParser()
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--out", default=str(ROOT / "_build" / "executed" / "notebooks"))
    ap.add_argument(
        "--pin", action="store_true",
        help="write the outputs of `# NBVAL_CHECK_OUTPUT` cells back into the source notebook",
    )
    args = ap.parse_args()
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shared = ROOT.parent / "shared" / "data"
    if shared.is_dir():  # offline copies beside the clone (CI, development machines)
        os.environ.setdefault("FEDMED_DATA_DIR", str(shared))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    timings: dict[str, float] = {}
    failed = []
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        client = NotebookClient(
            nb, timeout=600, kernel_name="python3",
            resources={"metadata": {"path": str(p.parent.resolve())}},
        )
        t0 = time.perf_counter()
        try:
            client.execute()
        except CellExecutionError as err:
            failed.append(p.name)
            print(f"FAILED {p.name}:\n{str(err)[:3000]}", file=sys.stderr)
        timings[p.name] = time.perf_counter() - t0
        if p.name in failed:
            (out / p.name).unlink(missing_ok=True)  # never render a failed run
            continue
        nbformat.write(nb, out / p.name)
        if args.pin and p.name not in failed:
            pin_outputs(p, nb)
        print(f"{p.name}: {timings[p.name]:.1f} s", flush=True)
    ok = check_and_print(timings, ROOT / "_build" / "timings.json")
    if failed:
        print("failed notebooks:", ", ".join(failed), file=sys.stderr)
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
