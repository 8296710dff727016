"""A worker stalled past the session timeout (a zombie) wakes with a stale write in flight.

Deterministic, not a signal hoped to land at the right moment: worker A reaches MongoDB
through a forwarder that holds A's first write to the claims, so A has decided an unclaim
and logged it when it stops; A is then frozen (SIGSTOP) past the session timeout; worker B
takes the partition, applies the unclaim from A's log entry and a newer claim; then A
resumes and its held write goes through. With the fence, the claim stays active (the newer
claim's state) and A reports the refused write; without it, A's stale unclaim lands.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_sdk.client import BadgesClient
from service.settings import Settings
from tests.infra.containers import Servers, free_port
from tests.infra.forward import Hold, forwarding
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

ORG, ACTOR = 52, 4


def _claims_write(data: bytes) -> bool:
    """An OP_MSG whose command is an update or insert of badge_claims."""
    return b"badge_claims\x00" in data and (b"\x02update\x00" in data
                                           or b"\x02insert\x00" in data)


@pytest.mark.parametrize("fence", [True, False])
async def test_a_zombie_wakes_and_its_stale_write_is_fenced(
    stack: Servers, settings: Settings, tmp_path: Path, mongo_db: AsyncDatabase[dict],
    fence: bool,
) -> None:
    port = free_port()
    one = settings.model_copy(update={
        "topic_partitions": 1, "mongo_database": mongo_db.name, "write_fence": fence,
        # A's held write must outlive the freeze, not time out and be retried afresh.
        "network_timeout_seconds": 120})
    a_settings = one.model_copy(update={
        "mongo_url": f"mongodb://127.0.0.1:{port}/?directConnection=true"})
    hold = Hold(_claims_write)
    a = WorkerProcess(a_settings, tmp_path / "a.log")
    b = WorkerProcess(one, tmp_path / "b.log")
    async with forwarding(port, stack.mongo_url.removeprefix("mongodb://"), hold), \
            BadgesClient(one) as client:
        try:
            await asyncio.to_thread(a.start)  # the loop keeps forwarding meanwhile
            badge = str(ObjectId())
            assert (await client.result(await client.claim(ORG, ACTOR, badge, "Loyalty", "r"),
                                        60)).ok
            hold.arm()
            unclaim = await client.unclaim(ORG, ACTOR, badge, "Loyalty", "r")
            await asyncio.wait_for(hold.caught.wait(), 30)  # A decided and logged it
            assert a.process is not None
            os.kill(a.process.pid, signal.SIGSTOP)
            await asyncio.to_thread(b.start)
            # B owns the partition once A's session times out: it re-applies the unclaim
            # from A's log entry, then a newer claim.
            assert (await client.result(unclaim, 60)).ok
            newer = await client.claim(ORG, ACTOR, badge, "Loyalty", "r")
            assert (await client.result(newer, 60)).ok
            os.kill(a.process.pid, signal.SIGCONT)
            hold.release()
            # A's write has been answered once A publishes its copy of the unclaim's result.
            await client.results(unclaim, count=2, timeout=60)
        finally:
            hold.release()
            for worker in (a, b):
                if worker.process is not None:
                    os.kill(worker.process.pid, signal.SIGCONT)
                await asyncio.to_thread(worker.stop)
    claim = await mongo_db["badge_claims"].find_one({"badgeMetaId": ObjectId(badge)})
    assert claim is not None
    if fence:
        assert claim["isActive"] is True  # as claim, unclaim, claim leave it
        assert "fenced 1 stale writes" in a.log()
    else:
        assert claim["isActive"] is False  # the zombie's stale unclaim landed last
