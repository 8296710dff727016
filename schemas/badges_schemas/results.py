"""Messages the service publishes: one result event per command, and dead letters."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from badges_schemas.commands import OwnerType
from badges_schemas.envelope import Envelope


class ClaimData(BaseModel):
    badgeMetaId: str
    ownerType: OwnerType
    referenceId: str


class UnclaimData(BaseModel):
    ownerType: OwnerType
    referenceId: str
    isActive: bool


class ApiGroupData(BaseModel):
    """A badge group as the Badges API's pages show it (the gateway answers this)."""

    id: str
    orgId: int
    name: str
    rank: int
    createdBy: int
    createdOn: float = Field(description="epoch seconds with fraction")
    lastUpdatedBy: int
    lastUpdatedOn: float = Field(description="epoch seconds with fraction")
    isActive: bool


class GroupData(ApiGroupData):
    """A badge group in a result event: the API's fields plus their ISO-8601 forms."""

    createdOnISO: str
    lastUpdatedOnISO: str


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
