"""Command messages: the envelope every upstream module sends, and the four payloads.

Types are strict: a number or an object where a string belongs is bad input, never
coerced (that is also what keeps operator objects such as {"$ne": null} out of queries).
Only the enum and the timestamp are read leniently, because JSON has no type for them.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]
# Names and reference ids are short in practice; the bound keeps every result event far below
# Kafka's message size limit, so a huge field is answered, not stuck in the producer.
MAX_TEXT_LENGTH = 256
NonEmptyStr = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH)]
# MongoDB stores integers of at most 64 bits: a larger one would fail every write of its batch.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
# A created group's id holds the command's time as 4 bytes of seconds, as an ObjectId does.
ISSUED_AT_MAX_SECONDS = 2**32


def _issued_at(value: datetime | None) -> datetime | None:
    """A time without an offset is UTC (never the worker's zone); it must fit the group id."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not 0 <= value.timestamp() < ISSUED_AT_MAX_SECONDS:
        raise ValueError("must lie between 1970-01-01T00:00:00Z and 2106-02-07T06:28:15Z")
    return value


IssuedAt = Annotated[datetime | None, Field(strict=False), AfterValidator(_issued_at)]


class OwnerType(enum.StrEnum):
    """The modules that can own a badge claim (case-sensitive)."""

    LOYALTY = "Loyalty"
    LOYALTY_PROMOTION = "Loyalty_Promotion"
    REFERRAL_CAMPAIGNS = "Referral_Campaigns"
    JOURNEYS = "Journeys"
    AUDIENCE_CAMPAIGNS = "Audience_Campaigns"
    REWARDS_CATALOG = "Rewards_Catalog"
    GOODWILL_MODULE = "Goodwill_Module"
    MILESTONES = "Milestones"
    HISTORICAL_IMPORT = "Historical_Import"


class CommandType(enum.StrEnum):
    CLAIM_BADGE = "ClaimBadge"
    UNCLAIM_BADGE = "UnclaimBadge"
    CREATE_BADGE_GROUP = "CreateBadgeGroup"
    UPDATE_BADGE_GROUP = "UpdateBadgeGroup"


class _Strict(BaseModel):
    # Unknown members are ignored so that senders can add fields before we read them.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ClaimBadge(_Strict):
    badgeId: ObjectIdStr
    ownerType: Annotated[OwnerType, Field(strict=False)]
    referenceId: NonEmptyStr


class UnclaimBadge(ClaimBadge):
    pass


class CreateBadgeGroup(_Strict):
    name: NonEmptyStr
    rank: Int64


class UpdateBadgeGroup(CreateBadgeGroup):
    groupId: ObjectIdStr


Payload = ClaimBadge | UnclaimBadge | CreateBadgeGroup | UpdateBadgeGroup

PAYLOADS: dict[CommandType, type[Payload]] = {
    CommandType.CLAIM_BADGE: ClaimBadge,
    CommandType.UNCLAIM_BADGE: UnclaimBadge,
    CommandType.CREATE_BADGE_GROUP: CreateBadgeGroup,
    CommandType.UPDATE_BADGE_GROUP: UpdateBadgeGroup,
}


class CommandEnvelope(_Strict):
    """What every command message carries around its payload."""

    commandId: Annotated[UUID, Field(strict=False, description="idempotency key")]
    type: str
    orgId: Int64
    actorId: Int64
    issuedAt: IssuedAt = None
    payload: dict[str, Any]


class Command(BaseModel):
    """A command that passed validation: envelope fields plus its typed payload."""

    model_config = ConfigDict(frozen=True)

    commandId: str
    type: CommandType
    orgId: int
    actorId: int
    issuedAt: datetime | None
    payload: Payload


class ClaimBadgeCommand(CommandEnvelope):
    type: Literal["ClaimBadge"]
    payload: ClaimBadge  # type: ignore[assignment]


class UnclaimBadgeCommand(CommandEnvelope):
    type: Literal["UnclaimBadge"]
    payload: UnclaimBadge  # type: ignore[assignment]


class CreateBadgeGroupCommand(CommandEnvelope):
    type: Literal["CreateBadgeGroup"]
    payload: CreateBadgeGroup  # type: ignore[assignment]


class UpdateBadgeGroupCommand(CommandEnvelope):
    type: Literal["UpdateBadgeGroup"]
    payload: UpdateBadgeGroup  # type: ignore[assignment]


# The full message per command type, used for the exported JSON Schema and AsyncAPI.
MESSAGES: dict[CommandType, type[CommandEnvelope]] = {
    CommandType.CLAIM_BADGE: ClaimBadgeCommand,
    CommandType.UNCLAIM_BADGE: UnclaimBadgeCommand,
    CommandType.CREATE_BADGE_GROUP: CreateBadgeGroupCommand,
    CommandType.UPDATE_BADGE_GROUP: UpdateBadgeGroupCommand,
}
