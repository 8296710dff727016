"""The entities the 1,000,000-document preload holds, by number. Pure.

Their ids are random like the workload's (a claim's badge is 96 random bits, a group's id
an ObjectId of seconds and 8 random bytes, a log entry's command a random UUID), so each
insert and lookup lands anywhere in the _id index, as in production, not at its end. Yet
each is a function of (seed, number): the preload writes numbers 0..N-1, and a mix touches
any of them (tests/benchmarks/mix.py) without a list of a million ids.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from badges_schemas import OwnerType
from tests.benchmarks.mix import BASE_MS, ORGS

OWNER_TYPES = tuple(OwnerType)
SEED = 0x1D0C5
# Preloaded groups were created before the mix starts: one per second, ending at its start.
GROUPS_END_SECONDS = BASE_MS // 1000


def _draw(kind: str, seed: int, number: int) -> int:
    """128 bits that look random, the same for the same (kind, seed, number)."""
    digest = hashlib.blake2b(f"{kind}:{seed}:{number}".encode(), digest_size=16).digest()
    return int.from_bytes(digest, "big")


def _org(bits: int) -> int:
    return ORGS[bits % len(ORGS)]


@dataclass(frozen=True)
class OldClaim:
    org_id: int
    payload: dict[str, Any]  # badgeId, ownerType, referenceId: as a command carries them

    @property
    def claim_id(self) -> str:
        p = self.payload
        return f"{self.org_id}:{p['badgeId']}:{p['ownerType']}:{p['referenceId']}"


@dataclass(frozen=True)
class OldGroup:
    org_id: int
    group_id: str
    name: str


@dataclass(frozen=True)
class Preloaded:
    """`count` entities of each kind, numbered from 0, drawn from `seed`."""

    count: int
    seed: int = SEED

    def claim(self, number: int) -> OldClaim:
        """An active claim."""
        bits = _draw("claim", self.seed, number)
        payload = {"badgeId": f"{bits >> 32:024x}",
                   "ownerType": str(OWNER_TYPES[(bits >> 8) % len(OWNER_TYPES)]),
                   "referenceId": str(bits % 10**9)}
        return OldClaim(_org(bits >> 16), payload)

    def group(self, number: int) -> OldGroup:
        """A group, holding its name."""
        bits = _draw("group", self.seed, number)
        seconds = GROUPS_END_SECONDS - self.count + number
        group_id = seconds.to_bytes(4, "big").hex() + f"{bits >> 64:016x}"
        return OldGroup(_org(bits), group_id, f"P{self.seed:x}_{number}")

    def log_key(self, number: int) -> str:
        """The _id of a command log entry (and of its done-marker): "<org>:<command id>"."""
        bits = _draw("command", self.seed, number)
        return f"{_org(bits)}:{uuid.UUID(int=bits, version=4)}"
