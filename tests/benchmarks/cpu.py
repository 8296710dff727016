"""CPU seconds spent by the processes of a run, read from /proc.

Roles: the system under test (its process), the broker and the database (each a container:
its host PID, as the engine reports it, and that process's descendants), and the driver
(this process, which also runs the raw ceiling's client). A process's figure is its user
and system time, with that of its children that have exited (cutime, cstime).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")
ROLES = ("system", "broker", "database", "driver")
Reading = dict[str, float | None]


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return int(fields[1]), (utime + stime + cutime + cstime) / TICKS


def _processes() -> dict[int, tuple[int, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def tree_seconds(root: int, processes: Mapping[int, tuple[int, float]]) -> float | None:
    """CPU seconds of `root` and every process below it; None if it is gone."""
    if root not in processes:
        return None
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += processes[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def container_pid(container: Any) -> int | None:
    """The host PID of a testcontainers container's first process (None without one)."""
    if container is None:
        return None
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    return int(wrapped.attrs["State"]["Pid"]) or None


class Meter:
    """Reads the CPU seconds of each role's process tree."""

    def __init__(self, pids: Mapping[str, int | None]) -> None:
        self.pids = dict(pids)

    def read(self) -> Reading:
        processes = _processes()
        return {role: tree_seconds(pid, processes) if pid else None
                for role, pid in self.pids.items()}


def per_thousand(before: Reading, after: Reading, commands: int) -> dict[str, float | None]:
    """CPU seconds per 1,000 commands of each role between two readings."""
    found: dict[str, float | None] = {}
    for role in before:
        start, end = before[role], after.get(role)
        found[role] = (round((end - start) * 1000 / commands, 3)
                       if start is not None and end is not None and commands else None)
    return found
