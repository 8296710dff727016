"""Load shapes for the gateway benchmark: open loop at a fixed rate, closed loop with N callers.

Open loop: call i is started at `start + i / rate` whatever the earlier calls are doing, and
its latency runs from that scheduled instant (not from when the event loop got round to it),
so a system that falls behind is charged for the queue it builds, never hidden by it
(no coordinated omission). Closed loop: N callers, each starting its next call when its last
one answered, for a fixed time; the throughput is the answered calls per second.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from tests.benchmarks.stats import percentile

# One call: given its number, do it and return None when it was answered as expected, or
# a short reason ("503", "ResultTimeoutError", "unexpected data") when not.
Call = Callable[[int], Awaitable[str | None]]


@dataclass
class Samples:
    """What one load run measured."""

    label: str
    latencies_ms: list[float] = field(default_factory=list)  # of the calls answered as expected
    # (second of the run the call was due in, its latency): shows when a run slowed down
    timeline: list[tuple[int, float]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    max_start_lag_ms: float = 0.0  # how late the loop started a call after its schedule
    seconds: float = 0.0
    cores: dict[str, float] = field(default_factory=dict)  # CPU used per process, in cores
    # CPU milliseconds each process used per call of the run (what one request costs it)
    cpu_ms_per_call: dict[str, float] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return len(self.latencies_ms) + sum(self.errors.values())

    def summary(self) -> dict[str, Any]:
        return {"calls": self.calls, "answered": len(self.latencies_ms),
                "errors": sum(self.errors.values()), "error_kinds": dict(self.errors),
                "p50_ms": round(percentile(self.latencies_ms, 0.5), 1),
                "p99_ms": round(percentile(self.latencies_ms, 0.99), 1),
                "max_ms": round(max(self.latencies_ms, default=float("nan")), 1),
                "max_start_lag_ms": round(self.max_start_lag_ms, 1),
                "seconds": round(self.seconds, 2),
                "answered_per_s": round(len(self.latencies_ms) / self.seconds, 1)
                if self.seconds else 0.0,
                "cores": self.cores, "cpu_ms_per_call": self.cpu_ms_per_call,
                "p50_ms_by_second": self._by_second()}

    def _by_second(self) -> list[float]:
        seconds: dict[int, list[float]] = {}
        for second, latency in self.timeline:
            seconds.setdefault(second, []).append(latency)
        return [round(percentile(seconds.get(n, []), 0.5), 1)
                for n in range(max(seconds, default=-1) + 1)]


def merge(label: str, parts: list[Samples]) -> Samples:
    """Blocks of one load, as one: the timeline's seconds counted on from block to block."""
    merged = Samples(label)
    offset = 0
    for part in parts:
        merged.latencies_ms += part.latencies_ms
        merged.errors.update(part.errors)
        merged.timeline += [(offset + second, latency) for second, latency in part.timeline]
        merged.max_start_lag_ms = max(merged.max_start_lag_ms, part.max_start_lag_ms)
        merged.seconds += part.seconds
        offset += max((second for second, _ in part.timeline), default=-1) + 1
    return merged


async def _timed(call: Call, number: int, since: float, samples: Samples, bar: Any,
                 second: int = 0) -> None:
    try:
        problem = await call(number)
    except Exception as exc:  # every failure of a call is counted, by kind
        problem = type(exc).__name__
    if problem is None:
        latency = (time.perf_counter() - since) * 1000
        samples.latencies_ms.append(latency)
        samples.timeline.append((second, latency))
    else:
        samples.errors[problem] += 1
    bar.update(1)


async def open_loop(call: Call, rate: float, seconds: float, label: str,
                    first: int = 0) -> Samples:
    """`rate * seconds` calls numbered from `first`, each started on its schedule."""
    count = max(1, round(rate * seconds))
    samples = Samples(label)
    tasks = []
    with tqdm(total=count, desc=label, unit="req", mininterval=0.5, leave=True) as bar:
        started = time.perf_counter()
        for i in range(count):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            samples.max_start_lag_ms = max(samples.max_start_lag_ms,
                                           (time.perf_counter() - due) * 1000)
            tasks.append(asyncio.create_task(
                _timed(call, first + i, due, samples, bar, int(i / rate))))
        await asyncio.gather(*tasks)
        samples.seconds = time.perf_counter() - started
    return samples


async def closed_loop(call: Call, callers: int, seconds: float, first: int) -> Samples:
    """`callers` concurrent callers for `seconds`; numbers are drawn from `first` upwards."""
    samples = Samples(f"{callers} callers")
    numbers = itertools.count(first)

    async def caller(deadline: float, bar: Any) -> None:
        while time.perf_counter() < deadline:
            await _timed(call, next(numbers), time.perf_counter(), samples, bar)

    with tqdm(desc=f"peak: {callers} callers", unit="req", mininterval=0.5, leave=True) as bar:
        started = time.perf_counter()
        await asyncio.gather(*(caller(started + seconds, bar) for _ in range(callers)))
        samples.seconds = time.perf_counter() - started
    return samples


async def peak(call: Call, steps: list[int], seconds: float, first: int,
               growth: float = 0.05) -> tuple[dict[str, Any], int]:
    """Closed loops with more callers each step, until throughput grows by less than
    `growth` (or falls); the peak is the best step. Returns it and the next free number."""
    runs = []
    for callers in steps:
        samples = await closed_loop(call, callers, seconds, first)
        first += samples.calls
        runs.append({"callers": callers, **samples.summary()})
        rates = [r["answered_per_s"] for r in runs]
        if len(rates) > 1 and rates[-1] < rates[-2] * (1 + growth):
            break
    best = max(runs, key=lambda r: r["answered_per_s"])
    return {"requests_per_s": best["answered_per_s"], "callers": best["callers"],
            "p99_ms_at_peak": best["p99_ms"], "steps": runs}, first
