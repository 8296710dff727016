"""`make bench-auth`: valid callers of the gateway, alone and under a flood of wrong passwords.

Valid callers read a group (GET, credentials cached after their first call) at 100/s, open
loop, latency from each call's scheduled start. The flood sends 200 requests/s, each with
another wrong password (so no failed-check memory helps it: every one would need an argon2
check). The two loads alternate in blocks (quiet, flood, quiet, flood, ...) so that drift in
the machine falls on both. Printed and written to .state/bench/auth-flood.json: the valid
callers' p50/p99 quiet and under the flood, their ratio, and what the flood was answered
(401 checked and refused, 429 refused unchecked).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
from bson import ObjectId

from service.settings import Settings
from tests.benchmarks import gateway_load, report
from tests.benchmarks.gateway_load import Call, Samples
from tests.infra.containers import servers
from tests.infra.gateway import PREFIX, GatewayProcess, GatewayUsers

ORG, USER = 50156, 123
OUT = report.STATE / "auth-flood.json"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--valid-rate", type=float, default=100.0, help="valid calls/s (100)")
    parser.add_argument("--flood-rate", type=float, default=200.0,
                        help="wrong-password requests/s (200)")
    parser.add_argument("--block-seconds", type=float, default=10.0, help="each block (10)")
    parser.add_argument("--blocks", type=int, default=3, help="blocks of each load (3)")
    return parser.parse_args(argv)


def valid_call(session: aiohttp.ClientSession, url: str, authorization: str) -> Call:
    async def call(_: int) -> str | None:
        async with session.get(url, headers={"Authorization": authorization}) as response:
            await response.read()
            return None if response.status == 404 else str(response.status)
    return call


def flood_call(session: aiohttp.ClientSession, url: str, answers: Counter[int]) -> Call:
    async def call(number: int) -> str | None:
        wrong = aiohttp.BasicAuth("loyalty", f"guess-{number}-{uuid.uuid4().hex[:6]}").encode()
        async with session.get(url, headers={"Authorization": wrong}) as response:
            await response.read()
            answers[response.status] += 1
            return None if response.status in (401, 429) else str(response.status)
    return call


async def measure(gateway: GatewayProcess, users: GatewayUsers, args: argparse.Namespace
                  ) -> dict[str, Any]:
    url = f"{gateway.url}{PREFIX}/group/{ObjectId()}"  # no such group: 404, read from MongoDB
    timeout = aiohttp.ClientTimeout(total=30)
    flood_answers: Counter[int] = Counter()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        valid = valid_call(session, url, users.basic("loyalty"))
        flood = flood_call(session, url, flood_answers)
        await valid(0)  # the valid caller's credentials are checked once, then cached
        quiet: list[Samples] = []
        flooded: list[Samples] = []
        first = 1
        for block in range(args.blocks):
            quiet.append(await gateway_load.open_loop(
                valid, args.valid_rate, args.block_seconds, f"quiet {block + 1}", first))
            first += round(args.valid_rate * args.block_seconds)
            valid_run = gateway_load.open_loop(
                valid, args.valid_rate, args.block_seconds, f"under flood {block + 1}", first)
            flood_run = gateway_load.open_loop(
                flood, args.flood_rate, args.block_seconds, f"flood {block + 1}", first)
            measured, _ = await asyncio.gather(valid_run, flood_run)
            flooded.append(measured)
            first += round(args.flood_rate * args.block_seconds)
    return {"quiet": gateway_load.merge("quiet", quiet).summary(),
            "flood": gateway_load.merge("under flood", flooded).summary(),
            "flood_answers": {str(k): v for k, v in sorted(flood_answers.items())}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    logs = report.logs_folder("auth-")
    with servers() as stack:
        namespace = f"benchauth{uuid.uuid4().hex[:6]}"
        settings = Settings(kafka_bootstrap_servers=stack.kafka_bootstrap,
                            mongo_url=stack.mongo_url, mongo_database=namespace,
                            topic_prefix=namespace)
        users = GatewayUsers(logs / "gateway-users.json").add("loyalty", ORG, USER)
        with GatewayProcess(settings, users.path, logs / "gateway.log") as gateway:
            results = asyncio.run(measure(gateway, users, args))
    results["logs"] = str(logs)
    return results


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    quiet, flood = results["quiet"], results["flood"]
    ratio = flood["p99_ms"] / quiet["p99_ms"] if quiet["p99_ms"] else float("nan")
    return "\n".join([
        f"valid callers at {args.valid_rate:g}/s (GET, cached credentials), "
        f"{args.blocks} blocks of {args.block_seconds:g} s each",
        f"  quiet       : p50 {quiet['p50_ms']:7.1f} ms  p99 {quiet['p99_ms']:7.1f} ms  "
        f"answered {quiet['answered']}/{quiet['calls']}",
        f"  under flood : p50 {flood['p50_ms']:7.1f} ms  p99 {flood['p99_ms']:7.1f} ms  "
        f"answered {flood['answered']}/{flood['calls']}",
        f"  p99 under flood / quiet: x {ratio:.2f}",
        f"flood at {args.flood_rate:g}/s of wrong passwords, answered by status: "
        f"{results['flood_answers']}"])


def main(argv: list[str] | None = None) -> None:
    report.stop_on_sigterm()
    args = parse(argv)
    started = time.perf_counter()
    try:
        results = run(args)
    except KeyboardInterrupt:
        sys.exit("\ninterrupted: the processes and containers it started are stopped")
    results.update(plan=vars(args), wall_seconds=round(time.perf_counter() - started, 1))
    report.write(results, OUT)
    print("\n" + table(results, args))
    print(f"\nwrote {OUT}")
    if results["quiet"]["errors"] or results["flood"]["errors"]:
        sys.exit("some valid calls were not answered as expected (see error_kinds)")


if __name__ == "__main__":
    main()
