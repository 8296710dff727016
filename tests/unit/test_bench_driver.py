"""The benchmark's driver times each answer from the command's scheduled send, so a sender
that falls behind shows as latency (tests/benchmarks/driver.py). No Kafka: a producer
stand-in answers each command as it is sent."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from service.settings import Settings
from tests.benchmarks.driver import Driver
from tests.benchmarks.mix import CLAIMS_ONLY, BenchCommand, build_mix

SEND_SECONDS = 0.05


class SlowProducer:
    """Takes SEND_SECONDS per send (a producer that has fallen behind); the answer, as the
    mix expects it, arrives the moment the send is done."""

    def __init__(self, driver: Driver, commands: list[BenchCommand]) -> None:
        self.driver = driver
        self.by_key = {c.value: c for c in commands}

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        await asyncio.sleep(SEND_SECONDS)
        command = self.by_key[value]
        self.driver._arrive({"commandId": command.command_id, "type": command.type_name,
                             "orgId": command.org_id, "data": dict(command.data),
                             "errors": [], "warnings": []}, time.perf_counter())
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_a_late_send_counts_from_its_slot() -> None:
    commands = build_mix(10, seed=3, shares=CLAIMS_ONLY)
    driver = Driver(Settings())
    driver._producer = SlowProducer(driver, commands)  # type: ignore[assignment]
    outcome = await driver.paced(commands, rate=100, label="test")  # a slot every 10 ms
    assert outcome.verdict.ok
    # Command i is sent about 50 (i + 1) ms after the start, for a slot at 10 i ms: each is
    # 40 ms later than the one before. Timed from its send, each would take about 0 ms.
    latencies = outcome.latencies_ms
    assert latencies == sorted(latencies)
    assert latencies[-1] >= 9 * 40 + SEND_SECONDS * 1000 * 0.9
    assert outcome.seconds >= 10 * SEND_SECONDS * 0.9


async def test_a_wrong_or_repeated_answer_fails_the_run() -> None:
    commands = build_mix(3, seed=3, shares=CLAIMS_ONLY)
    driver = Driver(Settings())
    for command in commands:
        driver.commands[command.command_id] = command
        driver.intended[command.command_id] = 0.0
    first, second, _ = commands
    driver._arrive({"commandId": first.command_id, "type": first.type_name,
                    "orgId": first.org_id, "data": dict(first.data), "errors": [],
                    "warnings": [{"code": 9100}]}, 1.0)
    driver._arrive({"commandId": first.command_id}, 1.0)
    driver._arrive({"commandId": "never sent"}, 1.0)
    verdict = driver._outcome(commands).verdict
    assert verdict.wrong == {"claim_new": 1}
    assert verdict.missing == [second.command_id, commands[2].command_id]
    assert (verdict.duplicates, verdict.unexpected) == (1, 1)
