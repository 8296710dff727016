"""Baseline: the agent a Faust user would write from the tutorial, one message at a time.

    python -m tests.benchmarks.naive_agent worker     (settings from BADGES_*, as the worker)

One `@app.agent` over the command topics, `async for event in stream.events()`, and per
message: parse, `find_one` by `_id`, `update_one(..., upsert=True)` when the command changes
something, send the result event, and let Faust acknowledge the offset as it does after each
event. No batching, no command log (a redelivered command is applied again), no name
reservations. Results are built with the worker's own decisions, so they have the same shape
and codes. The same PyMongo async client and producer acks (all) as the worker.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

import faust
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import Command, Envelope, Invalid, ResultEvent, Topics, Unreadable, parse
from badges_schemas.commands import ClaimBadge, CreateBadgeGroup, UnclaimBadge, UpdateBadgeGroup
from service.domain import decisions
from service.domain.model import ClaimKey, Decision, Group, SaveGroup, SetClaim
from service.settings import Settings
from tests.benchmarks.mix import accepted_types

Doc = dict[str, Any]

settings = Settings()
topics = Topics(settings.topic_prefix)
ACCEPTED = accepted_types(topics)
app = faust.App(
    f"{settings.topic_prefix}-naive",
    broker=[f"kafka://{h}" for h in settings.kafka_bootstrap_servers.split(",")],
    store="memory://",
    datadir=os.path.join(tempfile.gettempdir(), f"faust-{settings.topic_prefix}-naive"),
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    topic_partitions=settings.topic_partitions,
    producer_acks=-1,
)
commands_topic = app.topic(*ACCEPTED, key_serializer="raw", value_serializer="raw")
results_topic = app.topic(topics.results, key_serializer="raw", value_serializer="raw")


@app.agent(commands_topic)
async def process(stream: Any) -> None:
    # PyMongo's async client belongs to the loop it is created in: create it here.
    timeout_ms = int(settings.network_timeout_seconds * 1000)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(settings.mongo_url, timeoutMS=timeout_ms,
                                                     tz_aware=True)
    db = client[settings.mongo_database]
    async for event in stream.events():
        message = event.message
        result = await answer(db, parse(message.value, ACCEPTED[message.topic]),
                              message.timestamp)
        if result is not None:
            await results_topic.send(key=message.key, value=result.encode())


async def answer(db: AsyncDatabase[Doc], command: Command | Invalid | Unreadable,
                 timestamp: float) -> str | None:
    if isinstance(command, Unreadable):
        return None  # the mix has none; a tutorial agent would log and skip
    if isinstance(command, Invalid):
        return _result(command.commandId, command.type, command.orgId,
                       Envelope.failure(*command.problems))
    at = command.issuedAt.timestamp() if command.issuedAt is not None else timestamp
    payload = command.payload
    if isinstance(payload, ClaimBadge):
        decision = await _claim(db, command, payload, at)
    elif isinstance(payload, UpdateBadgeGroup):
        decision = await _update_group(db, command, payload, at)
    else:
        assert isinstance(payload, CreateBadgeGroup)
        decision = await _create_group(db, command, payload, at)
    return _result(command.commandId, str(command.type), command.orgId, decision.envelope)


async def _claim(db: AsyncDatabase[Doc], command: Command, payload: ClaimBadge,
                 at: float) -> Decision:
    key = decisions.claim_key(command.orgId, payload)
    claim_id = f"{key.org_id}:{key.badge_id}:{key.owner_type}:{key.reference_id}"
    doc = await db.badge_claims.find_one({"_id": claim_id})
    active = bool(doc and doc["isActive"])
    decide = decisions.unclaim if isinstance(payload, UnclaimBadge) else decisions.claim
    decision = decide(key, active, command.actorId, at)
    for effect in decision.effects:
        assert isinstance(effect, SetClaim)
        await db.badge_claims.update_one(
            {"_id": claim_id}, _claim_update(key, effect), upsert=True)
    return decision


def _claim_update(key: ClaimKey, effect: SetClaim) -> Doc:
    return {
        "$set": {"isActive": effect.is_active, "lastUpdatedBy": effect.actor_id,
                 "lastUpdatedOn": effect.at},
        "$setOnInsert": {"orgId": key.org_id, "badgeMetaId": ObjectId(key.badge_id),
                         "ownerType": str(key.owner_type), "referenceId": key.reference_id,
                         "createdBy": effect.actor_id, "createdOn": effect.at},
    }


async def _create_group(db: AsyncDatabase[Doc], command: Command, payload: CreateBadgeGroup,
                        at: float) -> Decision:
    group_id = decisions.new_group_id(command.orgId, command.commandId, at)
    existing = await db.badge_groups.find_one({"_id": ObjectId(group_id)})
    if existing is not None:  # delivered again: answer with the group as it is
        return Decision(Envelope(data=_group(existing).as_data()))
    decision = decisions.create_group(command.orgId, payload, group_id, None,
                                      command.actorId, at)
    await _save_groups(db, decision)
    return decision


async def _update_group(db: AsyncDatabase[Doc], command: Command, payload: UpdateBadgeGroup,
                        at: float) -> Decision:
    doc = await db.badge_groups.find_one({"_id": ObjectId(payload.groupId),
                                          "orgId": command.orgId})
    group = _group(doc) if doc is not None else None
    decision = decisions.update_group(payload, group, None, command.actorId, at)
    await _save_groups(db, decision)
    return decision


async def _save_groups(db: AsyncDatabase[Doc], decision: Decision) -> None:
    for effect in decision.effects:
        if isinstance(effect, SaveGroup):
            g = effect.group
            await db.badge_groups.update_one({"_id": ObjectId(g.id)}, {"$set": {
                "orgId": g.org_id, "name": g.name, "rank": g.rank, "createdBy": g.created_by,
                "createdOn": g.created_on, "lastUpdatedBy": g.last_updated_by,
                "lastUpdatedOn": g.last_updated_on, "isActive": g.is_active}}, upsert=True)


def _group(doc: Doc) -> Group:
    return Group(id=str(doc["_id"]), org_id=doc["orgId"], name=doc["name"], rank=doc["rank"],
                 created_by=doc["createdBy"], created_on=doc["createdOn"],
                 last_updated_by=doc["lastUpdatedBy"], last_updated_on=doc["lastUpdatedOn"],
                 is_active=doc["isActive"])


def _result(command_id: str, command_type: str | None, org_id: int | None,
            envelope: Envelope) -> str:
    return ResultEvent(commandId=command_id, type=command_type, orgId=org_id,
                       data=envelope.data, errors=envelope.errors,
                       warnings=envelope.warnings).model_dump_json()


def main() -> None:
    # A loop of our own, set before Faust looks for one (as service/__main__.py does).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    faust.Worker(app, loop=loop, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
