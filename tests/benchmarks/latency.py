"""Latency on one clock: a command's intended send (its slot in the schedule) to its answer.

- at half the worker's measured peak: commands of a fresh mix at a steady rate;
- idle: single commands one second apart, each into an idle worker.
Both also per kind of command (tests/benchmarks/mix.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.benchmarks.driver import Driver, Outcome
from tests.benchmarks.mix import BenchCommand, build_mix
from tests.benchmarks.stats import percentiles

HALF_PEAK_SEED = 2
IDLE_SEED = 3
IDLE_COMMANDS = 20


def figures(outcome: Outcome) -> dict[str, Any]:
    """Percentiles of the run, and of each kind of command in it."""
    return {**percentiles(outcome.latencies_ms), "achieved_rate": round(outcome.rate, 1),
            "by_kind": {kind: {"commands": len(values), **percentiles(values)}
                        for kind, values in sorted(outcome.by_kind().items())},
            "checks": outcome.checks()}


async def paced(driver: Driver, commands: Sequence[BenchCommand], rate: float, label: str
                ) -> tuple[dict[str, Any], Outcome]:
    outcome = await driver.paced(commands, rate, f"{label} at {rate:.0f}/s")
    return {"rate": round(rate, 1), "commands": len(commands),
            "seconds": round(len(commands) / rate, 1), **figures(outcome)}, outcome


async def half_peak(driver: Driver, peak: float, seconds: float
                    ) -> tuple[dict[str, Any], Outcome]:
    rate = max(peak / 2, 1.0)
    commands = build_mix(max(1, round(rate * seconds)), HALF_PEAK_SEED)
    return await paced(driver, commands, rate, "latency, the mix")


async def idle(driver: Driver) -> tuple[dict[str, Any], Outcome]:
    return await paced(driver, build_mix(IDLE_COMMANDS, IDLE_SEED), 1.0, "idle latency")
