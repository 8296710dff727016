"""Name reservations and releases when two workers decide the same rename (issue 17, part 3).

A worker that loses its partition while stalled (a zombie), or the old owner overlapping
the new one during a rebalance, runs the same batch as the partition's owner. Only one
decision per command gets into the log; these tests pause one worker at a chosen store
call while the other decides, then let it go on, and look at what the names and groups
are left as: never two active groups with one name, never a name held by no group.

Two stores on one database play the two workers, as in test_fencing.py; the pause is a
real `store_batch` stopped in the middle (`Paused`), so the zombie's steps before and
after the owner's are the handler's own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from badges_schemas import Command
from service.domain.decisions import new_group_id
from service.store.mongo import Store
from service.worker.handler import Incoming, store_batch
from tests.integration.test_fencing import ORG, _command, _create

pytestmark = pytest.mark.integration

PAUSE_SECONDS = 10  # bound on waiting for a paused worker to reach its pause


class Paused(Store):
    """A worker stopped at its first call of `at` ("reserve_name" or "release_name") until
    the test opens the gate; every later call goes through. "reserve_name" stops at the
    batch's reservations made ahead too (`reserve_ahead`): before any name is taken."""

    def __init__(self, db: AsyncDatabase[dict], at: str, fence: bool = True) -> None:
        super().__init__(db, fence=fence)
        self.at = at
        self.reached = asyncio.Event()
        self.gate = asyncio.Event()

    async def _stop(self, method: str) -> None:
        if method == self.at:
            self.reached.set()
            await self.gate.wait()

    async def reserve_ahead(self, *args: Any, **kwargs: Any) -> None:
        await self._stop("reserve_name")
        await super().reserve_ahead(*args, **kwargs)

    async def reserve_name(self, *args: Any, **kwargs: Any) -> str:
        await self._stop("reserve_name")
        return await super().reserve_name(*args, **kwargs)

    async def release_names(self, *args: Any, **kwargs: Any) -> None:
        await self._stop("release_name")  # every release goes through here
        await super().release_names(*args, **kwargs)

    async def paused(self, batch: list[Incoming]) -> asyncio.Task[Any]:
        """Start the batch and return once it waits at the pause."""
        task = asyncio.create_task(store_batch(batch, self))
        await asyncio.wait_for(self.reached.wait(), PAUSE_SECONDS)
        return task


async def _finish(task: Awaitable[Any]) -> None:
    """The paused worker's batch to its end. It may have lost the race to log (its insert
    of the log entry meets the owner's: a duplicate key), which is how it ends then."""
    try:
        await task
    except BulkWriteError as exc:
        assert {e["code"] for e in exc.details["writeErrors"]} == {11000}


async def _run(db: AsyncDatabase[dict], *batch: Incoming) -> list[dict[str, Any]]:
    """A batch through a worker that owns its partitions: stored, marked done, answered."""
    owner = Store(db)
    stored = await store_batch(list(batch), owner)
    await owner.mark_done(stored.done)
    return [json.loads(o.value) for o in stored.out]


def _rename(group: str, name: str, offset: int, partition: int = 5) -> Incoming:
    return _command("UpdateBadgeGroup", {"groupId": group, "name": name, "rank": 2}, offset,
                    partition=partition)


def _create_cmd(name: str, offset: int) -> Incoming:
    return _command("CreateBadgeGroup", {"name": name, "rank": 1}, offset)


def _code(answer: dict[str, Any]) -> int | None:
    return answer["errors"][0]["code"] if answer["errors"] else None


async def _names(db: AsyncDatabase[dict]) -> dict[str, str]:
    return {d["name"]: str(d["groupId"]) async for d in db["group_names"].find()}


async def _group_names(db: AsyncDatabase[dict]) -> dict[str, str]:
    return {str(d["_id"]): d["name"] async for d in db["badge_groups"].find()}


async def test_a_rename_that_loses_the_race_to_log_keeps_neither_its_release_nor_its_name(
    mongo_db: AsyncDatabase[dict],
) -> None:
    """The loser decided the rename against names that changed before the owner decided it.

    The zombie reads while B is free and stops before reserving B. Meanwhile group X takes
    B, the owner decides the rename (733: B is taken, the group stays A) and logs it, and X
    moves on to X1, freeing B. The zombie wakes: B is free, so it decides the rename as a
    success, and its log insert then fails (the owner's 733 is the logged decision). What
    it wrote before that must not stand: the group is still A, so A must stay reserved for
    it (or a create of A makes a second group "A"), and B must not be held for a group that
    is not named B (or B is refused to everyone)."""
    group = await _create(mongo_db, "A")
    rename = _rename(group, "B", offset=20)
    zombie = Paused(mongo_db, at="reserve_name")
    task = await zombie.paused([rename])  # read: the group is A, and B is free

    other = await _create(mongo_db, "X0")
    assert [_code(a) for a in await _run(mongo_db, _rename(other, "B", 1, partition=6))] \
        == [None]
    assert [_code(a) for a in await _run(mongo_db, rename)] == [733]  # the logged decision
    assert [_code(a) for a in await _run(mongo_db, _rename(other, "X1", 2, partition=6))] \
        == [None]
    zombie.gate.set()
    with pytest.raises(BulkWriteError):  # it lost the race to log
        await task

    assert await _group_names(mongo_db) == {group: "A", other: "X1"}
    # A is still the group's; B, reserved after the owner logged 733, was dropped at once.
    assert await _names(mongo_db) == {"A": group, "X1": other}
    # What a client sees: A is taken, B is free.
    answers = await _run(mongo_db, _create_cmd("A", 30), _create_cmd("B", 31))
    assert [_code(a) for a in answers] == [733, None]
    newer = answers[1]["data"]["id"]
    assert await _group_names(mongo_db) == {group: "A", other: "X1", newer: "B"}
    assert await _names(mongo_db) == {"A": group, "X1": other, "B": newer}


async def test_a_zombie_release_of_the_old_name_does_not_free_it_from_a_newer_creation(
    mongo_db: AsyncDatabase[dict],
) -> None:
    """The zombie's release of A lands after the owner applied the rename and a create
    took A for a new group (whose reservation, made at creation, has no fence)."""
    group = await _create(mongo_db, "A")
    rename = _rename(group, "B", offset=20)
    zombie = Paused(mongo_db, at="release_name")
    task = await zombie.paused([rename])  # decided: B reserved, A not released yet

    assert [_code(a) for a in await _run(mongo_db, rename)] == [None]
    [created] = await _run(mongo_db, _create_cmd("A", 21))
    assert _code(created) is None
    newer = created["data"]["id"]
    zombie.gate.set()
    await _finish(task)

    assert await _group_names(mongo_db) == {group: "B", newer: "A"}
    assert await _names(mongo_db) == {"A": newer, "B": group}


@pytest.mark.parametrize("fence", [True, False])
async def test_a_zombie_release_of_the_old_name_does_not_free_it_after_a_rename_back(
    mongo_db: AsyncDatabase[dict], fence: bool,
) -> None:
    """The zombie's release of A (A to B at offset 20) lands after the owner renamed the
    group B to A again at offset 21: A's reservation is the newer rename's."""
    group = await _create(mongo_db, "A")
    first, back = _rename(group, "B", offset=20), _rename(group, "A", offset=21)
    zombie = Paused(mongo_db, at="release_name", fence=fence)
    task = await zombie.paused([first])

    owner = Store(mongo_db, fence=fence)
    await owner.mark_done((await store_batch([first, back], owner)).done)
    zombie.gate.set()
    await _finish(task)

    assert await _group_names(mongo_db) == {group: "A"}
    if fence:
        assert await _names(mongo_db) == {"A": group}
    else:  # the stale release lands: A is held by nobody while the group is named A
        assert await _names(mongo_db) == {}


async def test_a_create_of_the_old_name_during_a_rename_is_refused_until_it_is_released(
    mongo_db: AsyncDatabase[dict],
) -> None:
    """What a rename promises a concurrent create: the new name is reserved before the old
    one is released, so a create of the old name is refused (733) while the rename is in
    flight, and succeeds once it is released; the two groups never share a name."""
    group = await _create(mongo_db, "A")
    rename = _rename(group, "B", offset=20)
    renaming = Paused(mongo_db, at="release_name")
    task = await renaming.paused([rename])

    assert await _names(mongo_db) == {"A": group, "B": group}
    assert [_code(a) for a in await _run(mongo_db, _create_cmd("A", 21))] == [733]
    renaming.gate.set()
    stored = await task
    await renaming.mark_done(stored.done)
    [created] = await _run(mongo_db, _create_cmd("A", 22))
    assert _code(created) is None
    assert await _group_names(mongo_db) == {group: "B", created["data"]["id"]: "A"}
    assert await _names(mongo_db) == {"A": created["data"]["id"], "B": group}


async def test_names_freed_earlier_in_a_batch_are_taken_later_in_it(
    mongo_db: AsyncDatabase[dict],
) -> None:
    """A release waits for its decision to be logged, yet a later command of the same
    batch may take the name: the batch logs what it decided so far and releases first."""
    group, other = await _create(mongo_db, "A"), await _create(mongo_db, "C")
    answers = await _run(mongo_db, _rename(group, "B", 20), _rename(other, "A", 1, partition=6),
                         _rename(group, "C", 21))
    assert [_code(a) for a in answers] == [None, None, None]
    assert await _group_names(mongo_db) == {group: "C", other: "A"}
    assert await _names(mongo_db) == {"A": other, "C": group}


class Counting(Store):
    """Counts the one-by-one reservation inserts (`reserve_name`'s own round trips)."""

    def __init__(self, db: AsyncDatabase[dict]) -> None:
        super().__init__(db)
        self.inserted_one_by_one = 0
        self._names_insert_one = self.names.insert_one

        async def insert_one(doc: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            self.inserted_one_by_one += 1
            return await self._names_insert_one(doc, *args, **kwargs)

        self.names.insert_one = insert_one  # type: ignore[method-assign]


class Overtaken(Store):
    """Another worker takes `name` for `holder` just after this one read the batch's state
    and before it reserves anything (as when a create and a rename race for one name)."""

    def __init__(self, db: AsyncDatabase[dict], name: str, holder: str) -> None:
        super().__init__(db)
        self.name, self.holder = name, holder

    async def reserve_ahead(self, *args: Any, **kwargs: Any) -> None:
        await self.names.insert_one({"_id": f"{ORG}:{self.name}", "orgId": ORG,
                                     "name": self.name, "groupId": ObjectId(self.holder)})
        await super().reserve_ahead(*args, **kwargs)


async def test_a_batch_reserves_the_names_of_its_creates_and_renames_in_one_bulk(
    mongo_db: AsyncDatabase[dict],
) -> None:
    """Three creates and a rename of one of them, in one batch: each name taken ahead in one
    insert, none of them one by one, and every answer as one at a time would give it."""
    group = await _create(mongo_db, "A")
    creates = [_create_cmd(name, offset) for offset, name in enumerate(["C1", "C2", "C3"])]
    store = Counting(mongo_db)
    stored = await store_batch([*creates, _rename(group, "B", offset=40)], store)
    await store.mark_done(stored.done)

    answers = [json.loads(o.value) for o in stored.out]
    assert [_code(a) for a in answers] == [None, None, None, None]
    assert store.inserted_one_by_one == 0
    ids = [a["data"]["id"] for a in answers[:3]]
    assert await _names(mongo_db) == {"C1": ids[0], "C2": ids[1], "C3": ids[2], "B": group}


async def test_a_name_taken_before_the_bulk_is_answered_733_and_leaves_nothing_reserved_unused(
    mongo_db: AsyncDatabase[dict],
) -> None:
    """The batch creates C and renames the new group to D. Another worker takes C between
    the batch's read and its reservations: the create is refused (733), so the group does
    not exist and its rename fails too; D, reserved ahead for the rename, is removed before
    the batch is logged, and nothing else is held."""
    create = _create_cmd("C", 0)
    assert isinstance(create.message, Command)
    created = new_group_id(ORG, create.message.commandId, create.at)
    other = str(ObjectId())
    store = Overtaken(mongo_db, "C", other)
    stored = await store_batch([create, _rename(created, "D", offset=41)], store)

    answers = [json.loads(o.value) for o in stored.out]
    assert _code(answers[0]) == 733
    assert _code(answers[1]) is not None  # no such group
    assert await _names(mongo_db) == {"C": other}
    assert await _group_names(mongo_db) == {}
