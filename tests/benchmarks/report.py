"""What every benchmark writes and prints with: the command line, the logs folder, the JSON,
the provenance, and the progress of a `make bench` run (partial.json)."""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE = Path(".state/bench")  # every benchmark's JSON and logs


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, with its module docstring as the help."""
    return argparse.ArgumentParser(description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def logs_folder(prefix: str = "") -> Path:
    """A new folder for one run's process logs: .state/bench/logs/<prefix><UTC time>."""
    logs = STATE / "logs" / f"{prefix}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def stop_on_sigterm() -> None:
    """SIGTERM cleans up as Ctrl-C does: every process and container is stopped."""
    signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def provenance(stack: Any) -> dict[str, Any]:
    """When, on which commit, against which servers a benchmark ran (a `Servers`)."""
    return {"stack": {"kafka": stack.kafka_version, "mongo": stack.mongo_version},
            "timestamp": datetime.now(UTC).isoformat(), "git": git_state()}


def heading(plan: Any, mix: dict[str, Any]) -> str:
    mode = "full" if plan.full else "quick"
    soak = f", soak {plan.soak:,} commands" if plan.soak else ""
    return (f"benchmark ({mode}): {plan.rounds} rounds of {plan.commands:,} commands per "
            f"system (the naive agent {plan.naive_commands:,}), {plan.partitions} partitions "
            f"per topic, preload {plan.preload:,} documents per collection{soak}\n"
            f"mix: {mix['text']}\n     counts {mix['counts']}")


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else math.nan


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def write(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")


class Progress:
    """The results as they come: one line printed per run, and all of it in partial.json,
    so a long run that stops early still leaves its figures."""

    def __init__(self, results: dict[str, Any], path: Path = STATE / "partial.json") -> None:
        self.results = results
        self.path = path
        results.setdefault("rounds", {})

    def add(self, name: str, found: dict[str, Any]) -> None:
        self.results[name] = found
        self._saved(name, found)

    def add_round(self, system: str, number: int, rounds: int, found: dict[str, Any]) -> None:
        self.results["rounds"].setdefault(system, []).append(found)
        self._saved(f"{system} round {number + 1}/{rounds}", found)

    def _saved(self, label: str, found: dict[str, Any]) -> None:
        write(self.results, self.path)
        if "cmd_s" in found:
            print(f"{label}: {found['cmd_s']:.1f} commands/s, "
                  f"{found['checks']['text']}", flush=True)
