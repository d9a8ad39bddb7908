"""Processes and ports on this machine: what a local federation needs from the OS.

One job: find a free TCP port on 127.0.0.1 (:func:`free_port`), find a Flower
command next to the running Python, list every descendant of a process through
Linux's ``/proc`` (:func:`descendants`), tell whether a process still runs (a zombie
does not, :func:`is_running`) and signal it.
:class:`~fedmed_lib.flower_app.federation.LocalFederation` starts its SuperLink and
SuperNodes with these and stops every process it started, and their children; the
names are also importable from :mod:`fedmed_lib.flower_app.federation`. Introduced
in :ref:`ch-flower`.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now (bind to port 0, then close).

    Introduced in :ref:`ch-flower`.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _executable(name: str) -> str:
    """Find a Flower command next to the running Python first, then on ``PATH``."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install flwr in this environment")
    return found


def descendants(pid: int) -> list[int]:
    """Return the process ids of all descendants of ``pid`` (Linux ``/proc``; else none).

    Introduced in :ref:`ch-flower`.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    parent: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may contain spaces: split after its closing ")"
        fields = stat[stat.rfind(")") + 2 :].split()
        parent[int(entry.name)] = int(fields[1])
    out: list[int] = []
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out.extend(kids)
        frontier.extend(kids)
    return out


def is_running(pid: int) -> bool:
    """Return whether process ``pid`` exists and is not a zombie. Introduced in :ref:`ch-flower`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie has exited; only its parent's wait() is missing
        try:
            return stat.read_text().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False
    return True


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
