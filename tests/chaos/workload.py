"""The commands of a chaos run: a mix that makes every claim and every name contended.

About 70 % claims and unclaims on a few hundred claims (so each sees many commands), 20 %
group creates and 10 % group updates, renaming onto names other groups hold or just freed
(3 % of these without their mandatory rank),
across three orgs; about 1 % exact resends (same key, same bytes) and 1 % malformed
messages (the fuzz generator's mutations). Every valid command carries issuedAt, so the
id of the group a create makes is known before it is processed (model.new_group_id).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import NamedTuple

from tests.chaos import fuzz
from tests.chaos.fuzz import CLAIMS, CREATES, UPDATES
from tests.chaos.model import new_group_id, verdict

ORGS = (50156, 7, 900001)
OWNER_TYPES = ("Loyalty", "Milestones", "Journeys")
MISSING_RANK = 0.03  # of the group commands: invalid (732), on the same contended names
MALFORMED_SEED = 7_919  # offsets the malformed messages' random stream from the workload's


class Message(NamedTuple):
    topic: str  # the command topic's suffix
    key: bytes | None
    value: bytes | None
    kind: str  # "valid", "invalid" or "unreadable" (model.verdict)
    timestamp_ms: int


def commands(count: int, seed: int, start_ms: int, claims: int = 300,
             names: int = 40) -> list[Message]:
    """`names` group names per org: fewer make more creates and renames collide."""
    rnd = random.Random(seed)
    pool_names = [f"GROUP_{i}" for i in range(names)]
    pool = [(rnd.choice(ORGS), f"{rnd.getrandbits(96):024x}", rnd.choice(OWNER_TYPES),
             str(rnd.randint(1, 9))) for _ in range(claims)]
    groups: list[tuple[int, str]] = []
    # A stream of its own: seeded alike, the fuzz generator drew the same commandIds as
    # the valid commands, and a malformed message reused a valid command's id (the full
    # run's seed did once the workload drew one more number per group command).
    malformed = iter(m for m in fuzz.messages(count // 50 + 50, seed + MALFORMED_SEED,
                                              start_ms, bad_share=1.0)
                     if m.kind != "valid")
    out: list[Message] = []
    for i in range(count):
        at_ms = start_ms + i
        roll = rnd.random()
        if roll < 0.01 and out:
            earlier = rnd.choice(out)
            out.append(earlier._replace(timestamp_ms=at_ms))
            continue
        if roll < 0.02:
            bad = next(malformed)
            out.append(Message(bad.topic, bad.key, bad.value, bad.kind, at_ms))
            continue
        topic, doc = _valid(rnd, roll, pool, groups, pool_names, at_ms)
        value = json.dumps(doc).encode()
        out.append(Message(topic, fuzz.entity_key(doc), value, verdict(value, topic), at_ms))
    return out


def _valid(rnd: random.Random, roll: float, pool: list[tuple[int, str, str, str]],
           groups: list[tuple[int, str]], names: list[str], at_ms: int
           ) -> tuple[str, dict[str, object]]:
    command_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    issued = at_ms // 1000
    if roll < 0.71 or (not groups and roll >= 0.90):
        org, badge, owner, ref = rnd.choice(pool)
        kind = rnd.choice(("ClaimBadge", "UnclaimBadge"))
        payload: dict[str, object] = {"badgeId": badge, "ownerType": owner, "referenceId": ref}
        topic = CLAIMS
    elif roll < 0.90:
        org, kind, topic = rnd.choice(ORGS), "CreateBadgeGroup", CREATES
        payload = {"name": rnd.choice(names), "rank": rnd.randint(1, 10)}
        groups.append((org, new_group_id(org, command_id, issued)))
    else:
        (org, gid), kind, topic = rnd.choice(groups), "UpdateBadgeGroup", UPDATES
        payload = {"groupId": gid, "name": rnd.choice(names), "rank": rnd.randint(1, 10)}
    if topic != CLAIMS and rnd.random() < MISSING_RANK:
        del payload["rank"]  # 732 is due, whether or not the name is taken (733)
    return topic, {"commandId": command_id, "type": kind, "orgId": org,
                   "actorId": rnd.randint(1, 50), "issuedAt": f"{_iso(issued)}",
                   "payload": payload}


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
