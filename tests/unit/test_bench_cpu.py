"""CPU seconds of a process and everything below it, from /proc (tests/benchmarks/cpu.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.benchmarks.cpu import Meter, per_thousand, tree_seconds


def test_a_tree_sums_its_processes_and_no_others() -> None:
    table = {1: (0, 5.0), 10: (1, 1.0), 11: (10, 0.5), 12: (10, 0.25), 20: (1, 9.0)}
    assert tree_seconds(10, table) == 1.75
    assert tree_seconds(11, table) == 0.5
    assert tree_seconds(99, table) is None


def test_per_thousand_commands_between_two_readings() -> None:
    before = {"system": 1.0, "broker": 2.0, "database": None}
    after = {"system": 3.0, "broker": 2.5, "database": None}
    assert per_thousand(before, after, 500) == {"system": 4.0, "broker": 1.0, "database": None}
    assert per_thousand(before, after, 0)["system"] is None


def test_a_child_that_burns_cpu_counts_for_its_parent() -> None:
    meter = Meter({"driver": os.getpid()})
    before = meter.read()["driver"]
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True, timeout=60)
    after = meter.read()["driver"]
    assert before is not None and after is not None
    assert after - before >= 0.25  # the exited child's time is in our cutime
