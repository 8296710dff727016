"""`make bench-gateway`: what the REST gateway adds to a command's latency, and its peak.

    python -m tests.benchmarks.gateway [--rate 300] [--seconds 60] [--peak-seconds 10] ...
    (after `eval "$(deploy/stack.sh env)"`, which `make bench-gateway` does)

In one run on one test stack, one worker and one gateway (`python -m service gateway`, as
shipped) in a namespace of their own:
1. the same claims of new badges at the same fixed rate (open loop: each started on its
   schedule, whatever the earlier ones are doing), straight to Kafka with the SDK
   (`BadgesClient` send + result, one task per command) and through the gateway (aiohttp,
   HTTP Basic, a connection per request in flight), taking turns in blocks of 10 s until
   each has had its 60 s, after an unrecorded warm-up of each (30 s) at the same rate. p50/p99
   from the scheduled start to the answer, errors, the ratio of the p99s (issue 12 allows
   the gateway at most +20 %), the CPU each process used, and the gateway's own count;
2. the gateway's peak: closed loops of 8, 16, 32, ... callers until the answered requests
   per second stop growing.
Prints a table and writes .state/bench/gateway.json.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from bson import ObjectId
from prometheus_client.parser import text_string_to_metric_families

from badges_sdk.client import BadgesClient
from service.settings import Settings
from tests.benchmarks import gateway_load, report
from tests.benchmarks.gateway_load import Call, Samples
from tests.benchmarks.processes import running
from tests.infra.containers import Servers, servers
from tests.infra.gateway import PREFIX, GatewayProcess, GatewayUsers
from tests.infra.worker import WorkerProcess

ORG, ACTOR = 50156, 123
USER = "bench"
KEEP_ALIVE_SECONDS = 2.0
ALLOWED_P99_GROWTH = 0.20  # issue 12: the gateway adds at most 20 % to p99
BODY_REFERENCE = "123"


@dataclass(frozen=True)
class Plan:
    rate: float
    seconds: float
    warm_up_seconds: float
    peak_seconds: float
    peak_callers: tuple[int, ...]
    partitions: int
    answer_timeout: float
    out: Path
    block_seconds: float


def parse_plan(argv: list[str] | None = None) -> Plan:
    parser = report.arguments(__doc__)
    parser.add_argument("--rate", type=float, default=300.0, help="requests/s offered (300)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="length of each fixed-rate run (60)")
    # 30, not 5: with 5 s, every run on this machine (old code and new) had the first
    # measured gateway block stalled for ~7 s (p50 1-1.8 s), about a minute after the stack
    # started, whichever path ran then; 30 s of warm-up each puts that in the warm-up.
    parser.add_argument("--warm-up-seconds", type=float, default=30.0,
                        help="unrecorded run at the rate before each measured one (30)")
    parser.add_argument("--peak-seconds", type=float, default=10.0,
                        help="length of each closed-loop step of the peak search (10)")
    parser.add_argument("--peak-callers", default="8,16,32,64,128,256",
                        help="concurrent callers of the peak search's steps, in order")
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic (3)")
    parser.add_argument("--answer-timeout", type=float, default=10.0,
                        help="the gateway's BADGES_GATEWAY_TIMEOUT_SECONDS and the SDK's "
                             "result wait (10)")
    parser.add_argument("--block-seconds", type=float, default=10.0,
                        help="the paths take turns in blocks this long (10)")
    parser.add_argument("--out", type=Path, default=report.STATE / "gateway.json",
                        help="where the JSON goes (.state/bench/gateway.json)")
    args = parser.parse_args(argv)
    callers = tuple(int(n) for n in args.peak_callers.split(","))
    return Plan(args.rate, args.seconds, args.warm_up_seconds, args.peak_seconds, callers,
                args.partitions, args.answer_timeout, args.out, args.block_seconds)


class Claims:
    """Claims of new badges, one badge per call number: every answer is a fresh claim."""

    def __init__(self, count: int) -> None:
        self.badges = [str(ObjectId()) for _ in range(count)]

    def badge(self, number: int) -> str:
        while number >= len(self.badges):  # the peak search may need more than planned
            self.badges.append(str(ObjectId()))
        return self.badges[number]

    def expected(self, number: int) -> dict[str, Any]:
        return {"badgeMetaId": self.badge(number), "ownerType": "Loyalty",
                "referenceId": BODY_REFERENCE}


def sdk_call(client: BadgesClient, claims: Claims, timeout: float) -> Call:
    async def call(number: int) -> str | None:
        command_id = await client.claim(ORG, ACTOR, claims.badge(number), "Loyalty",
                                        BODY_REFERENCE)
        event = await client.result(command_id, timeout=timeout, org_id=ORG)
        if event.errors or event.data != claims.expected(number):
            return "unexpected answer"
        return None
    return call


def gateway_call(session: aiohttp.ClientSession, base: str, users: GatewayUsers,
                 claims: Claims) -> Call:
    headers = {"Authorization": users.basic(USER), "Accept": "application/json"}
    body = {"ownerType": "Loyalty", "referenceId": BODY_REFERENCE}

    async def call(number: int) -> str | None:
        url = f"{base}{PREFIX}/badgeMeta/{claims.badge(number)}/claim"
        async with session.post(url, json=body, headers=headers) as answer:
            envelope = await answer.json(content_type=None)
            if answer.status != 200:
                return str(answer.status)
        if envelope.get("errors") or envelope.get("data") != claims.expected(number):
            return "unexpected answer"
        return None
    return call


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each process used while a path's blocks ran, per second of those blocks."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.used: dict[str, dict[str, float]] = {}  # path -> process -> CPU seconds
        self.wall: dict[str, float] = {}  # path -> seconds

    async def measure(self, path: str, run: Awaitable[Samples]) -> Samples:
        before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        started = time.perf_counter()
        samples = await run
        self.wall[path] = self.wall.get(path, 0.0) + time.perf_counter() - started
        used = self.used.setdefault(path, {})
        for name, pid in self.pids.items():
            used[name] = used.get(name, 0.0) + cpu_seconds(pid) - before[name]
        return samples

    def cores(self, path: str) -> dict[str, float]:
        """Cores used on average during the path's blocks (1.0: one core all the time)."""
        return {name: round(seconds / self.wall[path], 2)
                for name, seconds in self.used[path].items()}

    def ms_per_call(self, path: str, calls: int) -> dict[str, float]:
        """CPU milliseconds each process used per call of the path's blocks."""
        return {name: round(seconds * 1000 / calls, 3) if calls else 0.0
                for name, seconds in self.used[path].items()}


async def gateway_metrics(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """The gateway's own view of the claims so far: answers by status, and the seconds it
    spent on them in total (from its /metrics)."""
    async with session.get(f"{base}/metrics") as answer:
        text = await answer.text()
    seen: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.labels.get("route", "").endswith("/claim"):
                continue
            if sample.name == "badges_gateway_requests_total":
                key = f"status_{sample.labels['status']}"
                seen[key] = seen.get(key, 0) + sample.value
            elif sample.name == "badges_gateway_request_duration_seconds_sum":
                seen["seconds"] = sample.value
            elif sample.name == "badges_gateway_request_duration_seconds_count":
                seen["answered"] = sample.value
    return seen


def _difference(after: dict[str, float], before: dict[str, float]) -> dict[str, Any]:
    """What the gateway counted during a run; its mean time per answer in ms."""
    spent = {key: after[key] - before.get(key, 0) for key in after}
    answered = spent.pop("answered", 0)
    seconds = spent.pop("seconds", 0)
    return {"answered": int(answered), **{k: int(v) for k, v in spent.items()},
            "mean_ms_inside_gateway": round(seconds / answered * 1000, 1) if answered else None}


class GatewayBench:
    def __init__(self, stack: Servers, plan: Plan, logs: Path) -> None:
        self.stack, self.plan, self.logs = stack, plan, logs
        namespace = f"benchgw{uuid.uuid4().hex[:6]}"
        self.settings = Settings(
            kafka_bootstrap_servers=stack.kafka_bootstrap, mongo_url=stack.mongo_url,
            mongo_database=namespace, topic_prefix=namespace,
            topic_partitions=plan.partitions, gateway_timeout_seconds=plan.answer_timeout)
        self.users = GatewayUsers(logs / "gateway-users.json").add(USER, ORG, ACTOR)
        per_run = round(plan.rate * plan.seconds)
        self.claims = Claims(4 * per_run)
        self.next_number = 0
        self.cpu = CpuMeter({})

    def numbers(self, count: int) -> int:
        """Reserve `count` call numbers (badges nobody claimed yet); return the first."""
        first, self.next_number = self.next_number, self.next_number + count
        return first

    def run(self) -> dict[str, Any]:
        worker = WorkerProcess(self.settings, self.logs / "worker.log")
        gateway = GatewayProcess(self.settings, self.users.path, self.logs / "gateway.log")
        with running(worker), gateway:
            assert worker.process is not None and gateway.process is not None
            self.cpu = CpuMeter({"worker": worker.process.pid, "gateway": gateway.process.pid,
                                 "benchmark": os.getpid()})
            return asyncio.run(self._measure(gateway.url))

    async def _alternating(self, calls: dict[str, Call]) -> dict[str, Samples]:
        """Each path in turn, a block of `block_seconds` at a time, until each has had
        `seconds`: drift in the machine's load, and the stack's warming up, fall on both
        alike (the path that went first would otherwise pay for a colder stack)."""
        plan = self.plan
        blocks = max(1, round(plan.seconds / plan.block_seconds))
        parts: dict[str, list[Samples]] = {path: [] for path in calls}
        for block in range(blocks):
            for path, call in calls.items():
                count = round(plan.rate * plan.block_seconds)
                run = gateway_load.open_loop(
                    call, plan.rate, plan.block_seconds,
                    f"{path} {plan.rate:.0f}/s, block {block + 1}/{blocks}", self.numbers(count))
                parts[path].append(await self.cpu.measure(path, run))
        merged = {path: gateway_load.merge(path, samples) for path, samples in parts.items()}
        for path, samples in merged.items():
            samples.cores = self.cpu.cores(path)
            samples.cpu_ms_per_call = self.cpu.ms_per_call(path, samples.calls)
        return merged

    async def _measure(self, base: str) -> dict[str, Any]:
        plan = self.plan
        # No connection limit: an open loop must never queue behind its own client. Idle
        # connections are dropped before uvicorn's keep-alive timeout (5 s) would close
        # them under a request being sent (the client would count a ServerDisconnectedError).
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEP_ALIVE_SECONDS)
        # Past the gateway's own timeout, so that its 504 (not ours) is what is counted.
        timeout = aiohttp.ClientTimeout(total=plan.answer_timeout + 10)
        async with BadgesClient(self.settings) as client, aiohttp.ClientSession(
                connector=connector, timeout=timeout) as session:
            calls = {"SDK": sdk_call(client, self.claims, plan.answer_timeout),
                     "gateway": gateway_call(session, base, self.users, self.claims)}
            for path, call in calls.items():  # unrecorded: connections, caches, JIT
                count = round(plan.rate * plan.warm_up_seconds)
                await gateway_load.open_loop(call, plan.rate, plan.warm_up_seconds,
                                             f"{path} warm-up", self.numbers(count))
            before = await gateway_metrics(session, base)
            measured = await self._alternating(calls)
            # Its own measure starts once uvicorn hands it the request: what the benchmark
            # measured beyond it waited to be accepted, read or scheduled.
            seen = _difference(await gateway_metrics(session, base), before)
            peak, self.next_number = await gateway_load.peak(
                calls["gateway"], list(plan.peak_callers), plan.peak_seconds, self.next_number)
        return {"sdk": measured["SDK"].summary(),
                "gateway": {**measured["gateway"].summary(), "gateway_metrics": seen},
                "peak": peak}


def summarize(results: dict[str, Any], plan: Plan, stack: Servers, logs: Path,
              wall: float) -> dict[str, Any]:
    sdk, gateway = results["sdk"], results["gateway"]
    ratio = report.ratio(gateway["p99_ms"], sdk["p99_ms"])
    return {
        "rate": plan.rate, "seconds": plan.seconds,
        "sdk_p50_ms": sdk["p50_ms"], "sdk_p99_ms": sdk["p99_ms"], "sdk_errors": sdk["errors"],
        "gateway_p50_ms": gateway["p50_ms"], "gateway_p99_ms": gateway["p99_ms"],
        "gateway_errors": gateway["errors"],
        "p99_ratio": ratio, "p99_within_20_percent": ratio <= 1 + ALLOWED_P99_GROWTH,
        # /proc CPU time of the gateway process over its blocks, per request offered
        "gateway_cpu_ms_per_request": gateway["cpu_ms_per_call"]["gateway"],
        "peak_requests_per_s": results["peak"]["requests_per_s"],
        "peak_callers": results["peak"]["callers"],
        **results, "plan": asdict(plan),
        **report.provenance(stack),
        # A busy machine (other processes) shows in every figure: say how busy it was.
        "load_average_start": results["load_average_start"],
        "load_average_end": [round(n, 1) for n in os.getloadavg()],
        "wall_seconds": round(wall, 1), "logs": str(logs),
    }


def table(s: dict[str, Any]) -> str:
    lines = [f"{'path':<36} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'answered':>9} "
             f"{'errors':>7}  late start"]
    for label, key in (("SDK straight to Kafka", "sdk"), ("through the gateway", "gateway")):
        r = s[key]
        lines.append(f"{label:<36} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['max_ms']:8.1f} "
                     f"{r['answered']:9} {r['errors']:7}  {r['max_start_lag_ms']:.0f} ms"
                     + (f"  {r['error_kinds']}" if r["errors"] else ""))
    for label, key in (("SDK", "sdk"), ("gateway", "gateway")):
        cores = ", ".join(f"{name} {used:.2f}" for name, used in s[key]["cores"].items())
        per_call = ", ".join(f"{name} {ms:.2f}" for name, ms in
                             s[key]["cpu_ms_per_call"].items())
        lines.append(f"  CPU during the {label} run, in cores: {cores}; "
                     f"ms per request: {per_call}")
    seen = s["gateway"]["gateway_metrics"]
    lines.append(f"  the gateway's own /metrics for that run: {seen}")
    verdict = "within" if s["p99_within_20_percent"] else "NOT within"
    lines += [
        "", f"claims of new badges at {s['rate']:.0f}/s for {s['seconds']:.0f} s each, open loop, "
        f"the paths taking turns in blocks of {s['plan']['block_seconds']:.0f} s",
        f"p99 gateway / SDK: x{s['p99_ratio']:.3f} ({s['gateway_p99_ms']:.1f} vs "
        f"{s['sdk_p99_ms']:.1f} ms): {verdict} the +20 % the issue allows",
        "", "gateway peak (closed loop, answered requests/s):",
    ]
    for step in s["peak"]["steps"]:
        lines.append(f"  {step['callers']:4} callers: {step['answered_per_s']:8.1f}/s  "
                     f"p50 {step['p50_ms']:.1f} ms  p99 {step['p99_ms']:.1f} ms  "
                     f"errors {step['errors']}")
    lines += [f"peak: {s['peak_requests_per_s']:.1f} requests/s with {s['peak_callers']} "
              f"callers",
              f"load average (1, 5, 15 min): {s['load_average_start']} at the start, "
              f"{s['load_average_end']} at the end (2 cores)",
              f"stack: Kafka {s['stack']['kafka']}, {s['stack']['mongo']}; git "
              f"{s['git']['commit'][:10]}{' (uncommitted changes)' if s['git']['dirty'] else ''}",
              f"wall time {s['wall_seconds']:.0f} s; logs in {s['logs']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    report.stop_on_sigterm()
    plan = parse_plan(argv)
    started = time.perf_counter()
    logs = report.logs_folder("gateway-")
    print(f"gateway benchmark: {plan}", flush=True)
    load = [round(n, 1) for n in os.getloadavg()]
    try:
        with servers() as stack:
            results = {**GatewayBench(stack, plan, logs).run(), "load_average_start": load}
    except KeyboardInterrupt:
        sys.exit("\ninterrupted: the processes and containers it started are stopped")
    summary = summarize(results, plan, stack, logs, time.perf_counter() - started)
    report.write(summary, plan.out)
    print("\n" + table(summary))
    print(f"\nwrote {plan.out}")


if __name__ == "__main__":
    main()
