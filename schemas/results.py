"""Messages the service publishes: one result event per command, and dead letters."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.commands import OwnerType
from schemas.envelope import Envelope


class ClaimData(BaseModel):
    badgeMetaId: str
    ownerType: OwnerType
    referenceId: str


class UnclaimData(BaseModel):
    ownerType: OwnerType
    referenceId: str
    isActive: bool


class GroupData(BaseModel):
    """A badge group with every field of the API."""

    id: str
    orgId: int
    name: str
    rank: int
    createdBy: int
    createdOn: float
    createdOnISO: str
    lastUpdatedBy: int
    lastUpdatedOn: float
    lastUpdatedOnISO: str
    isActive: bool


class ResultEvent(Envelope):
    """The answer to one command: its identity plus the API envelope.

    `type` and `orgId` are null only when the command was too malformed to read them.
    """

    model_config = ConfigDict(frozen=True)

    commandId: str
    type: str | None
    orgId: int | None


class DeadLetter(BaseModel):
    """A message that could not be read as a command at all (no usable commandId)."""

    reason: str
    topic: str
    partition: int
    offset: int
    timestamp: float | None
    key: str | None  # its first KiB, decoded as UTF-8 with replacements
    valueSize: int
    valueSha256: str
    # A prefix only: the original may be as large as Kafka allows, this record must fit.
    valuePreview: str
