"""The benchmark's command mixes: fixed shares, seeded, so every system gets the same commands.

SHARES, the mix every system runs:
    70 % claims of new badges
    20 % unclaims of claims made earlier in the same stream (each claim unclaimed at most once)
     5 % re-claims of a hot set of 50 badges (the first claim of each succeeds, later ones
         get warning 9100)
     5 % group commands: creates, and renames (UpdateBadgeGroup to a fresh name) of groups
         created earlier in the stream, about half each

SHARES_PRELOADED, the worker's mix after the 1,000,000-document preload: more than 30 % of
it touches preloaded documents (tests/benchmarks/preloaded.py): unclaims of old claims,
re-claims of old claims (answered with warning 9100 while active, applied once unclaimed
in the stream), renames of old groups; the rest as above.

CLAIMS_ONLY, GROUPS_ONLY and `build_unclaims`: one kind of command at a time, for its cost.

Every command carries `issuedAt`, so the documents it leaves (and a created group's id,
derived from the command) are the same in every system. Each command also carries the
codes its answer must have and the fields of the answer's data that are known in advance:
every system's answers are checked against them (tests/benchmarks/verify.py).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from badges_schemas import Code, CommandType, OwnerType, Topics, command_key
from service.domain.decisions import new_group_id

if TYPE_CHECKING:
    from tests.benchmarks.preloaded import Preloaded

Shares = Mapping[str, float]
SHARES: Shares = {"claim_new": 0.70, "unclaim": 0.20, "hot_reclaim": 0.05, "group": 0.05}
SHARES_PRELOADED: Shares = {"claim_new": 0.45, "unclaim": 0.10, "hot_reclaim": 0.05,
                            "old_unclaim": 0.20, "old_reclaim": 0.12, "group": 0.08}
CLAIMS_ONLY: Shares = {"claim_new": 1.0}
GROUPS_ONLY: Shares = {"group": 1.0}
PRELOADED_KINDS = frozenset({"old_unclaim", "old_reclaim", "old_rename"})
HOT_BADGES = 50
ORGS = (50156, 50157, 50158, 50159)
ACTOR_ID = 123
BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z; command i is issued 10 ms after i-1
OWNER_TYPES = tuple(OwnerType)
ALREADY_ACTIVE = (int(Code.CLAIM_ALREADY_ACTIVE),)
KIND_TEXT = {
    "claim_new": "claims of new badges", "unclaim": "unclaims of earlier claims",
    "hot_reclaim": f"re-claims of {HOT_BADGES} hot badges",
    "old_unclaim": "unclaims of preloaded claims", "old_reclaim": "re-claims of preloaded claims",
    "group": "group creates and renames to fresh names",
}


@dataclass(frozen=True, slots=True)
class BenchCommand:
    command_id: str
    kind: str  # a key of the shares, with "group" split into group_create / group_rename
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
    data: tuple[tuple[str, Any], ...] = ()  # fields of the answer's data known in advance

    @property
    def type_name(self) -> str:
        return str(self.command_type)

    def topic(self, topics: Topics) -> str:
        return topics.command(self.command_type)


def describe(commands: Sequence[BenchCommand], seed: int, shares: Shares = SHARES
             ) -> dict[str, Any]:
    """The mix as stated in the output and the JSON."""
    counts: dict[str, int] = {}
    for command in commands:
        counts[command.kind] = counts.get(command.kind, 0) + 1
    touching = sum(n for kind, n in counts.items() if kind in PRELOADED_KINDS)
    parts = ", ".join(f"{share:.0%} {KIND_TEXT[kind]}" for kind, share in shares.items())
    return {
        "shares": dict(shares), "hot_badges": HOT_BADGES, "orgs": list(ORGS), "seed": seed,
        "commands": len(commands), "counts": counts,
        "touching_preloaded": round(touching / len(commands), 3) if commands else 0.0,
        "topics": "claims and unclaims on the claims topic, creates and renames on their own",
        "text": f"{parts}; {len(ORGS)} orgs, issuedAt set, seed {seed}",
    }


def build_mix(count: int, seed: int, orgs: tuple[int, ...] = ORGS, shares: Shares = SHARES,
              preloaded: Preloaded | None = None) -> list[BenchCommand]:
    return list(_Generator(seed, orgs, shares, preloaded).commands(count))


def build_unclaims(claims: Sequence[BenchCommand], seed: int) -> list[BenchCommand]:
    """An unclaim of each of `claims` (claims of new badges, answered), in their order."""
    return list(_Generator(seed, ORGS, CLAIMS_ONLY, None).unclaims(claims))


def accepted_types(topics: Topics) -> dict[str, frozenset[CommandType]]:
    """The command types each command topic carries (the contract in schemas.topics)."""
    accepted: dict[str, set[CommandType]] = {}
    for command_type in CommandType:
        accepted.setdefault(topics.command(command_type), set()).add(command_type)
    return {topic: frozenset(types) for topic, types in accepted.items()}


def claim_data(payload: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return (("badgeMetaId", payload["badgeId"].lower()), ("ownerType", payload["ownerType"]),
            ("referenceId", payload["referenceId"]))


def unclaim_data(payload: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return (("ownerType", payload["ownerType"]), ("referenceId", payload["referenceId"]),
            ("isActive", False))


class _Generator:
    def __init__(self, seed: int, orgs: tuple[int, ...], shares: Shares,
                 preloaded: Preloaded | None) -> None:
        self.rng = random.Random(seed)
        self.orgs = orgs
        self.shares = shares
        self.old = _Old(preloaded, self.rng) if preloaded is not None else None
        if self.old is None and PRELOADED_KINDS & set(shares):
            raise ValueError("a mix that touches preloaded documents needs them: preloaded=")
        # Names must not collide with another mix's in the same namespace (latency runs).
        self.tag = f"{seed:x}"
        self.active: list[tuple[int, dict[str, Any]]] = []  # claims that can be unclaimed
        self.hot = [(self._org(), self._claim_payload()) for _ in range(HOT_BADGES)]
        self.hot_claimed: set[int] = set()
        self.unrenamed: list[tuple[int, str, str]] = []  # (org, group id, create command id)
        self.index = 0
        self.makers: dict[str, Callable[[], BenchCommand]] = {
            "claim_new": self._claim_new, "unclaim": self._unclaim,
            "hot_reclaim": self._hot_reclaim, "group": self._group,
            "old_unclaim": self._old_unclaim, "old_reclaim": self._old_reclaim}

    def commands(self, count: int) -> Iterator[BenchCommand]:
        for self.index in range(count):
            yield self.makers[self._kind()]()

    def unclaims(self, claims: Sequence[BenchCommand]) -> Iterator[BenchCommand]:
        for self.index, claim in enumerate(claims):
            yield self._command("unclaim", CommandType.UNCLAIM_BADGE, claim.org_id,
                                claim.payload, data=unclaim_data(claim.payload))

    def _kind(self) -> str:
        draw, total = self.rng.random(), 0.0
        for kind, share in self.shares.items():
            total += share
            if draw < total:
                return kind
        return kind  # rounding: the last one

    def _claim_new(self) -> BenchCommand:
        org, payload = self._org(), self._claim_payload()
        self.active.append((org, payload))
        return self._claim("claim_new", org, payload)

    def _unclaim(self) -> BenchCommand:
        if not self.active:
            return self._claim_new()
        # Swap-remove a random earlier claim: O(1), and each claim is unclaimed once.
        pick = self.rng.randrange(len(self.active))
        self.active[pick], self.active[-1] = self.active[-1], self.active[pick]
        org, payload = self.active.pop()
        return self._command("unclaim", CommandType.UNCLAIM_BADGE, org, payload,
                             data=unclaim_data(payload))

    def _hot_reclaim(self) -> BenchCommand:
        pick = self.rng.randrange(HOT_BADGES)
        org, payload = self.hot[pick]
        warnings = ALREADY_ACTIVE if pick in self.hot_claimed else ()
        self.hot_claimed.add(pick)
        return self._claim("hot_reclaim", org, payload, warnings)

    def _old_unclaim(self) -> BenchCommand:
        assert self.old is not None
        old = self.old.unclaim()
        return self._command("old_unclaim", CommandType.UNCLAIM_BADGE, old.org_id, old.payload,
                             data=unclaim_data(old.payload))

    def _old_reclaim(self) -> BenchCommand:
        assert self.old is not None
        old, active = self.old.reclaim()
        return self._claim("old_reclaim", old.org_id, old.payload,
                           ALREADY_ACTIVE if active else ())

    def _group(self) -> BenchCommand:
        draw = self.rng.random()
        if self.old is not None and draw < 1 / 3:
            return self._old_rename()
        if self.unrenamed and draw >= (2 / 3 if self.old is not None else 1 / 2):
            return self._group_rename()
        return self._group_create()

    def _group_create(self) -> BenchCommand:
        org = self._org()
        payload = {"name": f"G{self.tag}_{self.index}", "rank": self.rng.randint(1, 100)}
        command_id = self._command_id()
        group_id = new_group_id(org, command_id, self._issued().timestamp())
        self.unrenamed.append((org, group_id, command_id))
        return self._command("group_create", CommandType.CREATE_BADGE_GROUP, org, payload,
                             command_id=command_id, data=(
                                 ("id", group_id), ("orgId", org), ("name", payload["name"]),
                                 ("rank", payload["rank"]), ("isActive", True)))

    def _group_rename(self) -> BenchCommand:
        org, group_id, create_id = self.unrenamed.pop(self.rng.randrange(len(self.unrenamed)))
        return self._rename("group_rename", org, group_id, after=create_id)

    def _old_rename(self) -> BenchCommand:
        assert self.old is not None
        old = self.old.group()
        return self._rename("old_rename", old.org_id, old.group_id, after=None)

    def _rename(self, kind: str, org: int, group_id: str, after: str | None) -> BenchCommand:
        payload = {"groupId": group_id, "name": f"R{self.tag}_{self.index}",
                   "rank": self.rng.randint(1, 100)}
        return self._command(kind, CommandType.UPDATE_BADGE_GROUP, org, payload, after=after,
                             data=(("id", group_id), ("name", payload["name"]),
                                   ("rank", payload["rank"])))

    def _claim(self, kind: str, org: int, payload: dict[str, Any],
               warnings: tuple[int, ...] = ()) -> BenchCommand:
        return self._command(kind, CommandType.CLAIM_BADGE, org, payload, warnings=warnings,
                             data=claim_data(payload))

    def _command(self, kind: str, command_type: CommandType, org: int,
                 payload: dict[str, Any], after: str | None = None,
                 warnings: tuple[int, ...] = (), data: tuple[tuple[str, Any], ...] = (),
                 command_id: str | None = None) -> BenchCommand:
        command_id = command_id or self._command_id()
        issued = self._issued()
        value = {"commandId": command_id, "type": str(command_type), "orgId": org,
                 "actorId": ACTOR_ID, "issuedAt": issued.isoformat(), "payload": payload}
        key = command_key(command_type, org, payload)
        return BenchCommand(command_id, kind, command_type, org, payload, issued.timestamp(),
                            key.encode(), json.dumps(value).encode(), after, (), warnings,
                            data)

    def _command_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _issued(self) -> datetime:
        # The worker reads issuedAt back from the ISO string: `at` is taken the same way.
        issued = datetime.fromtimestamp((BASE_MS + 10 * self.index) / 1000, UTC)
        return datetime.fromisoformat(issued.isoformat())

    def _org(self) -> int:
        return self.orgs[self.rng.randrange(len(self.orgs))]

    def _claim_payload(self) -> dict[str, Any]:
        return {"badgeId": f"{self.rng.getrandbits(96):024x}",
                "ownerType": str(OWNER_TYPES[self.rng.randrange(len(OWNER_TYPES))]),
                "referenceId": str(self.rng.randrange(10**9))}


class _Old:
    """The preloaded entities a mix has touched: each is drawn once, at random."""

    def __init__(self, preloaded: Preloaded, rng: random.Random) -> None:
        self.preloaded = preloaded
        self.rng = rng
        self.taken: dict[str, set[int]] = {"claim": set(), "group": set()}
        self.unclaimed: list[Any] = []  # old claims unclaimed in the stream, not re-claimed

    def _number(self, kind: str) -> int:
        taken = self.taken[kind]
        if len(taken) * 2 > self.preloaded.count:
            raise ValueError(f"the mix touches more than half of the {self.preloaded.count} "
                             f"preloaded {kind}s: preload more, or send fewer commands")
        while True:  # a million to draw from and thousands drawn: a repeat is rare
            number = self.rng.randrange(self.preloaded.count)
            if number not in taken:
                taken.add(number)
                return number

    def unclaim(self) -> Any:
        old = self.preloaded.claim(self._number("claim"))
        self.unclaimed.append(old)
        return old

    def reclaim(self) -> tuple[Any, bool]:
        """An old claim and whether it is active: half of them one unclaimed earlier."""
        if self.unclaimed and self.rng.random() < 0.5:
            return self.unclaimed.pop(self.rng.randrange(len(self.unclaimed))), False
        return self.preloaded.claim(self._number("claim")), True

    def group(self) -> Any:
        return self.preloaded.group(self._number("group"))
