"""The notebook timing table and budget check shared by run_notebooks.py and the nbval run."""

from __future__ import annotations

import json
from pathlib import Path

PER_NOTEBOOK_S = 90.0
TOTAL_S = 480.0


def check_and_print(timings: dict[str, float], path: Path | None = None, file=None) -> bool:
    """Print the timing table; return False if a budget is exceeded."""
    import sys

    out = file or sys.stdout
    total = sum(timings.values())
    print("\nNotebook timing (budget: 90 s each, 480 s in all)", file=out)
    print(f"{'notebook':<42} {'seconds':>8}  status", file=out)
    ok = True
    for name, t in sorted(timings.items()):
        status = "ok" if t <= PER_NOTEBOOK_S else "OVER 90 s"
        ok &= t <= PER_NOTEBOOK_S
        print(f"{name:<42} {t:8.1f}  {status}", file=out)
    total_ok = total <= TOTAL_S
    print(f"{'TOTAL':<42} {total:8.1f}  {'ok' if total_ok else 'OVER 480 s'}", file=out)
    if path is not None:  # merged: running one notebook keeps the others' last times
        path.parent.mkdir(parents=True, exist_ok=True)
        known = json.loads(path.read_text()) if path.exists() else {}
        known.update(timings)
        path.write_text(json.dumps(dict(sorted(known.items())), indent=1))
    return ok and total_ok
