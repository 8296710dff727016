"""The correlation core alone: records handed to it as the reader would, a fake clock."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest

from badges_sdk.replies import (
    MalformedResultError,
    Replies,
    ReplyLimits,
    ResultsUnavailableError,
    ResultTimeoutError,
)


def result(command_id: str, org_id: int | None = 1, reference: str = "r") -> bytes:
    return json.dumps({
        "commandId": command_id, "type": "ClaimBadge", "orgId": org_id,
        "data": {"badgeMetaId": "b", "ownerType": "Loyalty", "referenceId": reference},
        "errors": [], "warnings": []}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_wait_is_answered_by_its_own_result() -> None:
    replies, command = Replies(), str(uuid.uuid4())
    replies.register(1, command)
    wait = asyncio.create_task(replies.wait(command, timeout=5))
    await asyncio.sleep(0)  # the wait is in place before the result
    replies.deliver(result(command), 0, 1)
    event = await wait
    assert [e.commandId for e in event] == [command]
    assert replies.stats()["slots"] == 0  # delivered: no longer held for waits


async def test_the_answer_may_arrive_before_the_wait() -> None:
    replies, command = Replies(), str(uuid.uuid4())
    replies.register(1, command)
    replies.deliver(result(command), 0, 1)
    # A wait may name it in any form a UUID takes: it is matched in canonical form.
    assert (await replies.wait(command.upper(), timeout=1))[0].commandId == command


async def test_another_orgs_result_does_not_answer() -> None:
    replies, command = Replies(), str(uuid.uuid4())
    wait = asyncio.create_task(replies.wait(command, timeout=5, org_id=2))
    await asyncio.sleep(0)
    replies.deliver(result(command, org_id=1, reference="org 1"), 0, 1)
    await asyncio.sleep(0)
    assert not wait.done()
    replies.deliver(result(command, org_id=2, reference="org 2"), 0, 2)
    [event] = await wait
    assert (event.orgId, event.data["referenceId"]) == (2, "org 2")


async def test_bad_records_are_logged_once_and_skipped(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    replies, command = Replies(), str(uuid.uuid4())
    replies.register(1, command)
    with caplog.at_level(logging.WARNING, logger="badges_sdk.replies"):
        replies.deliver(b"not json", 2, 40)
        replies.deliver(None, 2, 41)
        replies.deliver(json.dumps({"commandId": command, "orgId": 1}).encode(), 2, 42)
        replies.deliver(result(command), 2, 43)
        [event] = await replies.wait(command, timeout=1)
    assert event.ok
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 3, skipped
    for offset, line in zip((40, 41, 42), skipped, strict=True):
        assert f"partition 2 offset {offset} " in line
    assert replies.stats()["skipped"] == 3


async def test_foreign_results_are_bounded_and_validated_when_taken(
        caplog: pytest.LogCaptureFixture) -> None:
    replies = Replies(ReplyLimits(recent_commands=100))
    ids = [str(uuid.uuid4()) for _ in range(1_000)]
    for offset, command in enumerate(ids):
        replies.deliver(result(command), 0, offset)
    assert replies.stats()["recent"] == 100
    assert (await replies.wait(ids[-1], timeout=1, org_id=1))[0].commandId == ids[-1]
    with pytest.raises(ResultTimeoutError):
        await replies.wait(ids[0], timeout=0.01, org_id=1)  # fell out of the cache
    broken = str(uuid.uuid4())  # correlates, but is no ResultEvent: found when taken
    replies.deliver(json.dumps({"commandId": broken, "orgId": 1}).encode(), 1, 7)
    with caplog.at_level(logging.WARNING, logger="badges_sdk.replies"), \
            pytest.raises(MalformedResultError, match="partition 1 offset 7 "):
        await replies.wait(broken, timeout=5, org_id=1)
    assert "partition 1 offset 7 " in caplog.text


async def test_count_two_finds_an_earlier_answer_in_the_cache() -> None:
    replies, command = Replies(), str(uuid.uuid4())
    replies.register(1, command)
    replies.deliver(result(command), 0, 1)
    await replies.wait(command, timeout=1)  # taken: the slot goes, its result to the cache
    replies.register(1, command)  # sent again
    replies.deliver(result(command), 0, 2)
    assert len(await replies.wait(command, count=2, timeout=1)) == 2
    assert len(await replies.wait(command, timeout=1)) == 2  # all known, once count is met


async def test_unawaited_sends_are_dropped_after_their_time_or_beyond_the_count() -> None:
    clock = Clock()
    replies = Replies(ReplyLimits(pending_commands=3, pending_seconds=60), clock=clock)
    for _ in range(5):
        replies.register(1, str(uuid.uuid4()))
    assert replies.stats()["slots"] == 3
    clock.now = 61
    replies.deliver(result(str(uuid.uuid4())), 0, 1)  # any record sweeps
    assert replies.stats()["slots"] == 0


async def test_a_timed_out_wait_keeps_the_registration() -> None:
    replies, command = Replies(), str(uuid.uuid4())
    replies.register(1, command)
    with pytest.raises(ResultTimeoutError):
        await replies.wait(command, timeout=0.01)
    replies.deliver(result(command), 0, 1)
    assert replies.stats()["slots"] == 1  # still held for the next wait
    assert (await replies.wait(command, timeout=1))[0].ok


async def test_many_waits_each_get_their_own() -> None:
    replies = Replies()
    ids = [str(uuid.uuid4()) for _ in range(500)]
    waits = [asyncio.create_task(replies.wait(i, timeout=5, org_id=1)) for i in ids]
    await asyncio.sleep(0)
    for offset, command in enumerate(reversed(ids)):
        replies.deliver(result(command), 0, offset)
    answers = await asyncio.gather(*waits)
    assert [a[0].commandId for a in answers] == ids
    assert replies.stats()["slots"] == 0


async def test_a_failed_reader_fails_every_wait_at_once() -> None:
    replies, command = Replies(), str(uuid.uuid4())
    wait = asyncio.create_task(replies.wait(command, timeout=30, org_id=1))
    await asyncio.sleep(0)
    replies.fail(OSError("broken"))
    with pytest.raises(ResultsUnavailableError, match="broken") as failed:
        await asyncio.wait_for(wait, 1)
    assert isinstance(failed.value.__cause__, OSError)
    with pytest.raises(ResultsUnavailableError):
        await replies.wait(command, timeout=30, org_id=1)


async def test_count_is_bounded_by_what_is_kept() -> None:
    with pytest.raises(ValueError, match="count"):
        await Replies(ReplyLimits(per_command=2)).wait(str(uuid.uuid4()), count=3,
                                                        org_id=1)


async def test_another_orgs_results_never_crowd_out_ours() -> None:
    replies, command = Replies(ReplyLimits(per_command=2)), str(uuid.uuid4())
    replies.register(2, command)
    replies.deliver(result(command, org_id=2, reference="ours"), 0, 0)
    for offset in range(1, 10):  # the same commandId, another org's: many times
        replies.deliver(result(command, org_id=1, reference="theirs"), 0, offset)
    [event] = await replies.wait(command, timeout=1)  # the org it was sent for
    assert (event.orgId, event.data["referenceId"]) == (2, "ours")
    theirs = await replies.wait(command, timeout=1, org_id=1)
    assert [e.orgId for e in theirs] == [1, 1]  # all that is kept of theirs: per_command


async def test_a_wait_names_its_org_unless_this_process_sent_the_command() -> None:
    replies, command = Replies(), str(uuid.uuid4())
    replies.deliver(result(command, org_id=5), 0, 0)
    with pytest.raises(ValueError, match="org_id"):
        await replies.wait(command, timeout=1)
    [event] = await replies.wait(command, timeout=1, any_org=True)
    assert event.orgId == 5
    # An any-org wait in place before the result gets it too, once.
    later = str(uuid.uuid4())
    replies.register(6, later)
    wait = asyncio.create_task(replies.wait(later, count=1, timeout=5, any_org=True))
    await asyncio.sleep(0)
    replies.deliver(result(later, org_id=6), 0, 1)
    assert [e.orgId for e in await wait] == [6]
    assert [e.orgId for e in await replies.wait(later, timeout=1)] == [6]


async def test_a_malformed_result_of_an_awaited_command_fails_its_wait_at_once() -> None:
    replies, command = Replies(), str(uuid.uuid4())
    replies.register(1, command)
    wait = asyncio.create_task(replies.wait(command, timeout=30))
    await asyncio.sleep(0)
    bad = json.dumps({"commandId": command, "orgId": 1, "type": "ClaimBadge",
                      "errors": "not a list"}).encode()
    replies.deliver(bad, 3, 9)
    with pytest.raises(MalformedResultError, match=f"{command} .*partition 3 offset 9 "):
        await asyncio.wait_for(wait, 1)
    # Another org's malformed record with the same id fails nothing of ours.
    other = str(uuid.uuid4())
    replies.register(1, other)
    replies.deliver(json.dumps({"commandId": other, "orgId": 2}).encode(), 3, 10)
    replies.deliver(result(other), 3, 11)
    assert (await replies.wait(other, timeout=1))[0].ok


async def test_waits_dropped_at_the_bound_are_counted_and_named_in_timeouts(
        caplog: pytest.LogCaptureFixture) -> None:
    replies = Replies(ReplyLimits(pending_commands=2))
    ids = [str(uuid.uuid4()) for _ in range(5)]
    with caplog.at_level(logging.WARNING, logger="badges_sdk.replies"):
        for command in ids:
            replies.register(1, command)
    assert replies.stats()["dropped"] == 3 and "dropped the oldest" in caplog.text
    with pytest.raises(ResultTimeoutError, match="3 sent commands' waits were dropped"):
        await replies.wait(ids[0], timeout=0.01)
