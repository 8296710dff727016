"""BadgesClient against the real broker: bad records, foreign results, orgs, bursts.

Most tests write result events straight to the results topic (no worker): that is what
other clients' traffic, replays and garbage look like to a client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from bson import ObjectId

from badges_schemas import CommandType
from badges_sdk import SendManyError, kafka
from badges_sdk.client import BadgesClient, OutgoingCommand, ResultsUnavailableError
from service.settings import Settings
from tests.infra.containers import Servers, free_port
from tests.infra.forward import forwarding
from tests.infra.records import write_results
from tests.infra.worker import WorkerProcess

ORG, ACTOR = 50156, 123


def result(command_id: str, org_id: int = ORG, reference: str = "r") -> bytes:
    return json.dumps({
        "commandId": command_id, "type": "ClaimBadge", "orgId": org_id,
        "data": {"badgeMetaId": "b", "ownerType": "Loyalty", "referenceId": reference},
        "errors": [], "warnings": []}).encode()


@pytest.fixture
async def bare(settings: Settings) -> AsyncIterator[BadgesClient]:
    """A client without a worker: nobody answers but the test."""
    async with BadgesClient(settings) as client:
        yield client


async def claim(client: BadgesClient, reference: str = "r") -> str:
    return await client.claim(ORG, ACTOR, str(ObjectId()), "Loyalty", reference)


async def test_a_bad_record_does_not_break_later_waits(
        bare: BadgesClient, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    command = await claim(bare)
    with caplog.at_level(logging.WARNING, logger="badges_sdk.replies"):
        await write_results(settings, [b"\xff not json", b'{"commandId": 1}', result(command)])
        assert (await bare.result(command, timeout=20)).ok
    skipped = [r.getMessage() for r in caplog.records if "skipped the record" in r.message]
    assert len(skipped) == 2, skipped
    assert "partition 0 offset 0 " in skipped[0] and "partition 0 offset 1 " in skipped[1]
    later = await claim(bare)
    await write_results(settings, [result(later)])
    assert (await bare.result(later, timeout=20)).commandId == later
    assert bare.reading


async def test_foreign_results_stay_within_the_cache_bound(
        bare: BadgesClient, settings: Settings) -> None:
    command = await claim(bare, "mine")
    foreign = [result(str(uuid.uuid4()), org_id=n % 7) for n in range(20_000)]
    await write_results(settings, [*foreign, result(command, reference="mine")])
    answer = await bare.result(command, timeout=60, org_id=ORG)
    assert answer.data is not None and answer.data["referenceId"] == "mine"
    stats = bare.replies.stats()
    assert stats["read"] >= 20_001
    assert stats["recent"] == bare.replies.limits.recent_commands, stats
    assert stats["slots"] == 0, stats


async def test_another_orgs_result_with_the_same_command_id_does_not_answer(
        bare: BadgesClient, settings: Settings) -> None:
    command = await claim(bare)
    wait = asyncio.create_task(bare.result(command, timeout=20, org_id=ORG))
    # Written in this order: an org-blind match would answer with the other org's.
    await write_results(settings, [result(command, org_id=ORG + 1, reference="theirs"),
                                   result(command, reference="ours")])
    answer = await wait
    assert (answer.orgId, answer.data) == (ORG, {"badgeMetaId": "b", "ownerType": "Loyalty",
                                                 "referenceId": "ours"})
    assert [e.orgId for e in await bare.results(command, timeout=5)] == [ORG]  # the org sent
    both = await bare.results(command, count=2, timeout=5, any_org=True)
    assert sorted(e.orgId or 0 for e in both) == [ORG, ORG + 1]


async def test_waits_fail_at_once_when_the_reader_dies(
        bare: BadgesClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    command = await claim(bare)

    def broken(*_: object) -> None:
        raise RuntimeError("the reader's bug")

    monkeypatch.setattr(bare.replies, "deliver", broken)
    wait = asyncio.create_task(bare.result(command, timeout=60))
    await write_results(settings, [result(command)])
    with pytest.raises(ResultsUnavailableError, match="the reader's bug"):
        await asyncio.wait_for(wait, 20)  # well before the wait's own 60 s
    assert not bare.reading
    with pytest.raises(ResultsUnavailableError):
        await bare.result(str(uuid.uuid4()), timeout=60)


async def test_send_many_says_which_commands_were_published_when_it_fails_midway(
        worker: WorkerProcess, client: BadgesClient) -> None:
    def claim_of(reference: str) -> OutgoingCommand:
        return OutgoingCommand(CommandType.CLAIM_BADGE, ORG, ACTOR,
                               {"badgeId": str(ObjectId()), "ownerType": "Loyalty",
                                "referenceId": reference}, command_id=str(uuid.uuid4()))
    chosen = [claim_of(f"r{n}") for n in range(3)]
    too_large = claim_of("x" * 3_000_000)  # beyond the producer's request size: refused
    with pytest.raises(SendManyError) as failed:
        await client.send_many([*chosen, too_large, claim_of("never tried")])
    assert failed.value.published == [c.command_id for c in chosen]  # the caller's ids
    assert failed.value.unpublished == [] and failed.value.handed == 3
    answers = await client.results_of(failed.value.published, timeout=60, org_id=ORG)
    assert all(a.ok for a in answers.values())


async def test_send_many_then_all_results_each_its_own(
        worker: WorkerProcess, client: BadgesClient) -> None:
    references = [f"ref-{n}" for n in range(1_000)]
    commands = [OutgoingCommand(CommandType.CLAIM_BADGE, ORG, ACTOR,
                                {"badgeId": str(ObjectId()), "ownerType": "Loyalty",
                                 "referenceId": r}) for r in references]
    ids = await client.send_many(commands)
    assert len(set(ids)) == 1_000
    answers = await client.results_of(ids, timeout=120, org_id=ORG)
    for command_id, reference in zip(ids, references, strict=True):
        answer = answers[command_id]
        assert answer.commandId == command_id and answer.ok, answer
        assert answer.data is not None and answer.data["referenceId"] == reference
    assert client.replies.stats()["slots"] == 0

    # Order per key: an unclaim right behind its claim in one burst finds the claim.
    pairs = [OutgoingCommand(kind, ORG, ACTOR, {"badgeId": badge, "ownerType": "Loyalty",
                                                "referenceId": "pair"})
             for badge in (str(ObjectId()) for _ in range(100))
             for kind in (CommandType.CLAIM_BADGE, CommandType.UNCLAIM_BADGE)]
    paired = await client.results_of(await client.send_many(pairs), timeout=60, org_id=ORG)
    assert all(answer.ok for answer in paired.values()), [
        a.errors for a in paired.values() if not a.ok][:3]

    # Two raw sends of one command: both answers, the second a duplicate's re-send.
    payload = {"badgeId": str(ObjectId()), "ownerType": "Loyalty", "referenceId": "twice"}
    command_id = str(uuid.uuid4())
    body = json.dumps({"commandId": command_id, "type": "ClaimBadge", "orgId": ORG,
                       "actorId": ACTOR, "payload": payload}).encode()
    for _ in range(2):
        await client.send_raw(client.topics.command(CommandType.CLAIM_BADGE), body,
                              payload["badgeId"].encode())
    both = await client.results(command_id, count=2, timeout=60, org_id=ORG)
    assert [e.commandId for e in both] == [command_id] * 2 and both[0] == both[1]


async def test_start_waits_for_a_broker_that_comes_up_within_the_timeout(
        stack: Servers, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    # The bootstrap address refuses connections until the forwarder opens it (as a
    # broker's published port does while its container starts).
    port = free_port()
    early = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}",
                                        "network_timeout_seconds": 20})
    client = BadgesClient(early)
    with caplog.at_level(logging.WARNING, logger="badges_sdk.client"):
        starting = asyncio.create_task(client.start())
        try:
            while not any("connecting failed" in r.message for r in caplog.records):
                assert not starting.done(), starting
                await asyncio.sleep(0.05)  # until the first failure is logged; bounded below
            async with forwarding(port, stack.kafka_bootstrap):
                await asyncio.wait_for(starting, 20)
                assert client.reading
        finally:
            await client.stop()
    said = [r for r in caplog.records if "connecting failed" in r.message]
    assert len(said) == 1 and f"127.0.0.1:{port}" in said[0].message


async def test_start_gives_up_after_the_timeout_on_a_broker_that_stays_away(
        settings: Settings) -> None:
    nowhere = settings.model_copy(update={
        "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}", "network_timeout_seconds": 2})
    started = asyncio.get_running_loop().time()
    with pytest.raises(Exception) as failed:
        async with BadgesClient(nowhere):
            pass
    assert kafka.passing_fault(failed.value), failed.value
    assert asyncio.get_running_loop().time() - started < 2 * 2 + 5  # one attempt's bound past
