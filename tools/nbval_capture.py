"""A pytest plugin for the nbval run of `make test`.

nbval executes each notebook once to check it. This plugin keeps what that
execution produced, so the book build does not execute the notebooks again:

- the outputs of every cell are written into an executed copy of the notebook in
  `_build/executed/notebooks/` (which `tools/stage_book.py` then renders);
- the wall time of each notebook (kernel start-up included) is summed, printed as
  a timing table, saved to `_build/timings.json`, and the run fails if a notebook
  took more than 90 s or all of them more than 8 minutes.

Use: `pytest -p nbval_capture --nbval-lax notebooks/` with `tools/` on PYTHONPATH.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from timing import check_and_print

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "executed" / "notebooks"

_times: dict[str, float] = defaultdict(float)
_notebooks: dict[str, object] = {}
_counters: dict[str, int] = defaultdict(int)
_over_budget = False


def _is_nbval_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _times[Path(path).name] += report.duration


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    yield
    if _is_nbval_cell(item):
        outs = getattr(item, "test_outputs", None)
        name = Path(str(item.parent.path)).name
        _notebooks[name] = item.parent.nb
        _counters[name] += 1
        cell = item.cell
        if outs is not None:
            cell.outputs = [nbformat.from_dict(dict(o)) for o in outs]
            for o in cell.outputs:
                if o.get("output_type") == "execute_result":
                    o["execution_count"] = _counters[name]
        cell.execution_count = _counters[name]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _over_budget
    if not _times:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    for name, nb in _notebooks.items():
        nbformat.write(nb, OUT / name)
    import io

    buf = io.StringIO()
    ok = check_and_print(dict(_times), ROOT / "_build" / "timings.json", file=buf)
    session.config._fedmed_timing = buf.getvalue()  # type: ignore[attr-defined]
    if not ok:
        _over_budget = True
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    text = getattr(config, "_fedmed_timing", "")
    if text:
        terminalreporter.write_sep("=", "notebook timing")
        terminalreporter.write(text)
        if _over_budget:
            terminalreporter.write_line("FAILED: a notebook or the whole book is over budget")
