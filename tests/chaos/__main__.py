"""`make chaos`: the full chaos run on a stack of its own; the report goes to
.state/chaos/latest.json and to the terminal. `--small` runs the version `make test` runs;
`--runs N` runs it N times in a row on one stack, one summary line each, all reports in
.state/chaos/runs.json (exit 1 if any run failed). A full run is followed by one run of a
worker with each seeded bug (`seeded_bugs_caught`: reported / seeded)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import uuid
from pathlib import Path

from service.settings import Settings
from tests.chaos.run import FULL, SEEDED, SEEDED_BUGS, SMALL, run
from tests.infra.containers import Servers, servers

FAILURES = ("lost", "double_effects", "mismatched_answers", "state_mismatches",
            "order_violations", "realtime_violations", "zombie_unfenced")
# Also a failure, in a full run: a seeded bug the checker did not report.
MISSED = "seeded_bugs_missed"


def settings_for(kafka: str, mongo: str) -> Settings:
    """Two workers on 12 partitions; a short session timeout, so faults move partitions."""
    name = f"chaos{uuid.uuid4().hex[:8]}"
    return Settings(kafka_bootstrap_servers=kafka, mongo_url=mongo, mongo_database=name,
                    topic_prefix=name, topic_partitions=12, kafka_session_timeout_seconds=6,
                    retry_max_backoff_seconds=2, stop_timeout_seconds=5)


def show(report: dict[str, object]) -> str:
    lines = [f"  {k:20} {v}" for k, v in report.items() if k != "examples"]
    lines += [f"  example: {e}" for e in report.get("examples", [])[:10]]  # type: ignore[index]
    return "chaos report\n" + "\n".join(lines)


def summary(report: dict[str, object]) -> str:
    return " ".join(f"{k}={report[k]}" for k in (*FAILURES, "seeded_bugs_caught",
                                                   "commands", "answered",
                                                   "worker_kills", "broker_restarts",
                                                   "zombie_pauses", "fenced_writes",
                                                   "seconds") if k in report)


async def seeded_bugs_caught(stack: Servers, state: Path) -> tuple[int, int]:
    """Runs of a worker with each seeded bug: how many the checker reported, of how many."""
    caught = 0
    for bug, counters in SEEDED_BUGS.items():
        settings = settings_for(stack.kafka_bootstrap, stack.mongo_url).model_copy(
            update={"seeded_bug": bug})
        report = await run(SEEDED, settings, stack, state / f"{settings.topic_prefix}-{bug}")
        found = any(report[k] for k in counters)
        print(f"seeded bug {bug}: {'caught' if found else 'NOT CAUGHT'} "
              f"({summary(report)})", flush=True)
        caught += found
    return caught, len(SEEDED_BUGS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--names", type=int, help="group names per org (contention)")
    args = parser.parse_args()
    state = Path(".state/chaos")
    reports = []
    with servers() as stack:
        for n in range(1, args.runs + 1):
            settings = settings_for(stack.kafka_bootstrap, stack.mongo_url)
            plan = SMALL if args.small else FULL
            if args.names:
                plan = dataclasses.replace(plan, names=args.names)
            report = asyncio.run(run(plan, settings, stack, state / settings.topic_prefix))
            if not args.small:
                caught, seeded = asyncio.run(seeded_bugs_caught(stack, state))
                report["seeded_bugs_caught"] = f"{caught}/{seeded}"
                report["seeded_bugs_missed"] = seeded - caught
            reports.append(report)
            state.mkdir(parents=True, exist_ok=True)
            (state / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
            print(show(report))
            print(f"run {n}/{args.runs}: {summary(report)}", flush=True)
    if args.runs > 1:
        (state / "runs.json").write_text(json.dumps(reports, indent=2) + "\n")
        for n, report in enumerate(reports, 1):
            print(f"run {n}/{args.runs}: {summary(report)}")
    print(f"written to {state / 'latest.json'}")
    return 1 if any(r.get(k) for r in reports for k in (*FAILURES, MISSED)) else 0


if __name__ == "__main__":
    sys.exit(main())
