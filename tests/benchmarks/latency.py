"""Latency on one clock: the benchmark's send of a command to its result's arrival.

- at half the worker's measured peak: commands of a fresh mix at a steady rate;
- idle: single commands one second apart, each into an idle worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tests.benchmarks.driver import Driver, Outcome
from tests.benchmarks.mix import build_mix

HALF_PEAK_SEED = 2
IDLE_SEED = 3
IDLE_COMMANDS = 20


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


async def half_peak(driver: Driver, peak: float, seconds: float) -> tuple[dict[str, Any], Outcome]:
    rate = max(peak / 2, 1.0)
    commands = build_mix(max(1, round(rate * seconds)), HALF_PEAK_SEED)
    outcome = await driver.paced(commands, rate, f"latency at {rate:.0f}/s")
    return {"rate": round(rate, 1), "seconds": seconds, "commands": len(commands),
            "p50_ms": round(percentile(outcome.latencies_ms, 0.5), 1),
            "p99_ms": round(percentile(outcome.latencies_ms, 0.99), 1),
            "achieved_rate": round(outcome.rate, 1)}, outcome


async def idle(driver: Driver) -> tuple[dict[str, Any], Outcome]:
    commands = build_mix(IDLE_COMMANDS, IDLE_SEED)
    outcome = await driver.paced(commands, 1.0, "idle latency")
    return {"commands": len(commands),
            "p50_ms": round(percentile(outcome.latencies_ms, 0.5), 1),
            "max_ms": round(max(outcome.latencies_ms, default=math.nan), 1)}, outcome
