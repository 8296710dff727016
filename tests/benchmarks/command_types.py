"""The cost of each kind of command alone, on the worker: claims only, unclaims only (of
those claims), groups only (creates, and renames of the groups created).

For each kind: a flood of N commands (commands/s), then commands of the kind at half that
rate (latency percentiles from each command's slot), in the worker's namespace for latency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tests.benchmarks import latency
from tests.benchmarks.driver import Driver
from tests.benchmarks.mix import (
    CLAIMS_ONLY,
    GROUPS_ONLY,
    BenchCommand,
    build_mix,
    build_unclaims,
)

SEEDS = {"claims": 11, "claims_paced": 12, "unclaims": 13, "unclaims_paced": 14,
         "groups": 15, "groups_paced": 16}
Commands = list[BenchCommand]


async def measure(driver: Driver, count: int, seconds: float) -> dict[str, Any]:
    claims = build_mix(count, SEEDS["claims"], shares=CLAIMS_ONLY)
    found: dict[str, Any] = {}
    found["claims"], paced_claims = await _kind(
        driver, "claims", claims,
        lambda n: build_mix(n, SEEDS["claims_paced"], shares=CLAIMS_ONLY), seconds)
    found["unclaims"], _ = await _kind(
        driver, "unclaims", build_unclaims(claims, SEEDS["unclaims"]),
        lambda n: build_unclaims(paced_claims[:n], SEEDS["unclaims_paced"]), seconds)
    found["groups"], _ = await _kind(
        driver, "groups", build_mix(count, SEEDS["groups"], shares=GROUPS_ONLY),
        lambda n: build_mix(n, SEEDS["groups_paced"], shares=GROUPS_ONLY), seconds)
    return found


async def _kind(driver: Driver, label: str, flood: Sequence[BenchCommand],
                paced: Callable[[int], Commands], seconds: float
                ) -> tuple[dict[str, Any], Commands]:
    """Flood, then half the flood's rate for `seconds`; the figures, and the paced commands."""
    outcome = await driver.flood(flood, f"{label} only")
    rate = max(outcome.rate / 2, 1.0)
    commands = paced(max(1, round(rate * seconds)))
    half, _ = await latency.paced(driver, commands, rate, f"latency, {label} only")
    return {"cmd_s": round(outcome.rate, 1), "seconds": round(outcome.seconds, 2),
            "commands": len(flood), "checks": outcome.checks(), "half_peak": half}, commands
