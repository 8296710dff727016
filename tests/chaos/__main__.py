"""`make chaos`: the full chaos run on a stack of its own; the report goes to
.state/chaos/latest.json and to the terminal. `--small` runs the version `make test` runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path

from service.settings import Settings
from tests.chaos.run import FULL, SMALL, run
from tests.infra.containers import servers

FAILURES = ("lost", "double_effects", "mismatched_answers", "state_mismatches",
            "order_violations")


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    state = Path(".state/chaos")
    with servers() as stack:
        settings = settings_for(stack.kafka_bootstrap, stack.mongo_url)
        report = asyncio.run(run(SMALL if args.small else FULL, settings, stack,
                                 state / settings.topic_prefix))
    state.mkdir(parents=True, exist_ok=True)
    (state / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(show(report))
    print(f"written to {state / 'latest.json'}")
    return 1 if any(report[k] for k in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
