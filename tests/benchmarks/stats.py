"""The benchmark's arithmetic: percentiles, the spread of repeated runs, latency from the
scheduled send. Pure.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PERCENTILES = {"p50_ms": 0.5, "p90_ms": 0.9, "p99_ms": 0.99}


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max, rounded to 0.1 ms."""
    found = {name: round(percentile(values, share), 1) for name, share in PERCENTILES.items()}
    found["max_ms"] = round(max(values, default=math.nan), 1)
    return found


@dataclass(frozen=True)
class Spread:
    """What repeated runs of one system gave: the median, and the lowest and highest."""

    median: float
    low: float
    high: float
    runs: int

    @staticmethod
    def of(values: Iterable[float]) -> Spread:
        known = [v for v in values if not math.isnan(v)]
        if not known:
            return Spread(math.nan, math.nan, math.nan, 0)
        return Spread(statistics.median(known), min(known), max(known), len(known))

    def as_dict(self) -> dict[str, Any]:
        return {"median": round(self.median, 1), "min": round(self.low, 1),
                "max": round(self.high, 1), "runs": self.runs}

    def text(self) -> str:
        return f"{self.median:.1f} ({self.low:.1f}-{self.high:.1f})"


def intended_send(slot: float, prerequisite_answered: float | None = None) -> float:
    """When a command should have been sent: its slot in the schedule, or, for one that
    cannot be sent before another is answered (a rename, after its group's creation), the
    later of the slot and that answer. Latency counts from here, not from the moment the
    send happened: a sender that falls behind delays its sends, and timing from them would
    leave the wait out (coordinated omission)."""
    if prerequisite_answered is None:
        return slot
    return max(slot, prerequisite_answered)


def latencies_ms(intended: Mapping[str, float], answered: Mapping[str, float],
                 ids: Iterable[str]) -> list[float]:
    """Answer time minus intended send time, in ms, for each of `ids` that was answered."""
    return [(answered[i] - intended[i]) * 1000 for i in ids if i in answered]
