"""The benchmark's command mix: fixed shares, seeded, so every system gets the same commands.

    70 % claims of new badges
    20 % unclaims of claims made earlier in the same stream (each claim unclaimed at most once)
     5 % re-claims of a hot set of 50 badges (the first claim of each succeeds, later ones
         get warning 9100)
     5 % group commands: creates, and renames (UpdateBadgeGroup to a fresh name) of groups
         created earlier in the stream, about half each

Every command carries `issuedAt`, so the documents it leaves (and a created group's id,
derived from the command) are the same in every system. Each command also carries the
codes its result must have, which is how every system's results are checked.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from badges_schemas import Code, CommandType, OwnerType, Topics, command_key
from service.domain.decisions import new_group_id

SHARES = {"claim_new": 0.70, "unclaim": 0.20, "hot_reclaim": 0.05, "group": 0.05}
HOT_BADGES = 50
ORGS = (50156, 50157, 50158, 50159)
ACTOR_ID = 123
BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z; command i is issued 10 ms after i-1
OWNER_TYPES = tuple(OwnerType)


@dataclass(frozen=True, slots=True)
class BenchCommand:
    command_id: str
    kind: str  # a key of SHARES, with "group" split into group_create / group_rename
    command_type: CommandType
    org_id: int
    payload: dict[str, Any]
    at: float  # issuedAt, in epoch seconds exactly as the worker reads it back
    key: bytes
    value: bytes
    # A rename is sent only once its group's create has been answered: upstream cannot
    # know the group id earlier, and the create and update topics are not ordered together.
    after: str | None
    errors: tuple[int, ...] = ()
    warnings: tuple[int, ...] = ()

    def topic(self, topics: Topics) -> str:
        return topics.command(self.command_type)


def describe(count: int, seed: int, commands: list[BenchCommand]) -> dict[str, Any]:
    """The mix as stated in the output and the JSON."""
    counts: dict[str, int] = {}
    for command in commands:
        counts[command.kind] = counts.get(command.kind, 0) + 1
    return {
        "shares": SHARES, "hot_badges": HOT_BADGES, "orgs": list(ORGS), "seed": seed,
        "commands": count, "counts": counts,
        "topics": "claims and unclaims on the claims topic, creates and renames on their own",
        "text": ("70% claims of new badges, 20% unclaims of earlier claims, 5% re-claims of "
                 f"{HOT_BADGES} hot badges, 5% group creates and renames to fresh names; "
                 f"{len(ORGS)} orgs, issuedAt set, seed {seed}"),
    }


def build_mix(count: int, seed: int, orgs: tuple[int, ...] = ORGS) -> list[BenchCommand]:
    return list(_Generator(seed, orgs).commands(count))


def accepted_types(topics: Topics) -> dict[str, frozenset[CommandType]]:
    """The command types each command topic carries (the contract in schemas.topics)."""
    accepted: dict[str, set[CommandType]] = {}
    for command_type in CommandType:
        accepted.setdefault(topics.command(command_type), set()).add(command_type)
    return {topic: frozenset(types) for topic, types in accepted.items()}


class _Generator:
    def __init__(self, seed: int, orgs: tuple[int, ...]) -> None:
        self.rng = random.Random(seed)
        self.orgs = orgs
        # Names must not collide with another mix's in the same namespace (latency runs).
        self.tag = f"{seed:x}"
        self.active: list[tuple[int, dict[str, Any]]] = []  # claims that can be unclaimed
        self.hot = [(self._org(), self._claim_payload()) for _ in range(HOT_BADGES)]
        self.hot_claimed: set[int] = set()
        self.unrenamed: list[tuple[int, str, str]] = []  # (org, group id, create command id)
        self.index = 0

    def commands(self, count: int) -> Iterator[BenchCommand]:
        for self.index in range(count):
            yield self._next()

    def _next(self) -> BenchCommand:
        draw = self.rng.random()
        if draw < SHARES["claim_new"]:
            return self._claim_new()
        if draw < SHARES["claim_new"] + SHARES["unclaim"]:
            return self._unclaim() if self.active else self._claim_new()
        if draw < 1 - SHARES["group"]:
            return self._hot_reclaim()
        if self.unrenamed and self.rng.random() < 0.5:
            return self._group_rename()
        return self._group_create()

    def _claim_new(self) -> BenchCommand:
        org, payload = self._org(), self._claim_payload()
        self.active.append((org, payload))
        return self._command("claim_new", CommandType.CLAIM_BADGE, org, payload)

    def _unclaim(self) -> BenchCommand:
        # Swap-remove a random earlier claim: O(1), and each claim is unclaimed once.
        pick = self.rng.randrange(len(self.active))
        self.active[pick], self.active[-1] = self.active[-1], self.active[pick]
        org, payload = self.active.pop()
        return self._command("unclaim", CommandType.UNCLAIM_BADGE, org, payload)

    def _hot_reclaim(self) -> BenchCommand:
        pick = self.rng.randrange(HOT_BADGES)
        org, payload = self.hot[pick]
        warnings = (int(Code.CLAIM_ALREADY_ACTIVE),) if pick in self.hot_claimed else ()
        self.hot_claimed.add(pick)
        return self._command("hot_reclaim", CommandType.CLAIM_BADGE, org, payload,
                             warnings=warnings)

    def _group_create(self) -> BenchCommand:
        org = self._org()
        payload = {"name": f"G{self.tag}_{self.index}", "rank": self.rng.randint(1, 100)}
        command = self._command("group_create", CommandType.CREATE_BADGE_GROUP, org, payload)
        group_id = new_group_id(org, command.command_id, command.at)
        self.unrenamed.append((org, group_id, command.command_id))
        return command

    def _group_rename(self) -> BenchCommand:
        org, group_id, create_id = self.unrenamed.pop(self.rng.randrange(len(self.unrenamed)))
        payload = {"groupId": group_id, "name": f"R{self.tag}_{self.index}",
                   "rank": self.rng.randint(1, 100)}
        return self._command("group_rename", CommandType.UPDATE_BADGE_GROUP, org, payload,
                             after=create_id)

    def _command(self, kind: str, command_type: CommandType, org: int,
                 payload: dict[str, Any], after: str | None = None,
                 warnings: tuple[int, ...] = ()) -> BenchCommand:
        command_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        issued = datetime.fromtimestamp((BASE_MS + 10 * self.index) / 1000, UTC)
        value = {"commandId": command_id, "type": str(command_type), "orgId": org,
                 "actorId": ACTOR_ID, "issuedAt": issued.isoformat(), "payload": payload}
        key = command_key(command_type, org, payload)
        # The worker reads issuedAt back from the ISO string: take `at` the same way.
        at = datetime.fromisoformat(issued.isoformat()).timestamp()
        return BenchCommand(command_id, kind, command_type, org, payload, at, key.encode(),
                            json.dumps(value).encode(), after, (), warnings)

    def _org(self) -> int:
        return self.orgs[self.rng.randrange(len(self.orgs))]

    def _claim_payload(self) -> dict[str, Any]:
        return {"badgeId": f"{self.rng.getrandbits(96):024x}",
                "ownerType": str(OWNER_TYPES[self.rng.randrange(len(OWNER_TYPES))]),
                "referenceId": str(self.rng.randrange(10**9))}
