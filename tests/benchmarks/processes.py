"""The systems under test as child processes: started, measured, and always stopped."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.settings import Settings
from tests.infra.worker import WorkerProcess


class ModuleProcess(WorkerProcess):
    """Like WorkerProcess (same BADGES_* environment, log file, "Ready" wait and stop),
    but runs `python -m <module>`: the baselines are processes of their own, as the worker is.
    """

    def __init__(self, settings: Settings, log_path: Path, module: str) -> None:
        super().__init__(settings, log_path)
        self.module = module

    def start(self, wait: bool = True) -> ModuleProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "worker"], env=self.environment(),
                stdout=log, stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()
        return self


@contextmanager
def running(process: WorkerProcess) -> Iterator[WorkerProcess]:
    """Start and wait for "Ready"; stop on the way out, also on failure or Ctrl-C."""
    try:
        process.start(wait=False)
        process.wait_ready()
        yield process
    finally:
        process.stop()


def memory_mib(process: WorkerProcess) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its peak so far (VmHWM), in MiB."""
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    found = {}
    for line in status.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(rest.split()[0]) / 1024
    return found
