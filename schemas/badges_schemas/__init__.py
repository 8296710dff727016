"""Contracts of the badge command service: messages, codes, topics. Imports nothing of service/
or of the SDK: the distribution badges-schemas, which the SDK and the service install."""

from badges_schemas.codes import Code
from badges_schemas.commands import Command, CommandEnvelope, CommandType, OwnerType
from badges_schemas.envelope import Envelope, Problem
from badges_schemas.parsing import Invalid, Unreadable, parse
from badges_schemas.results import (
    ApiGroupData,
    ClaimData,
    DeadLetter,
    GroupData,
    ResultEvent,
    UnclaimData,
)
from badges_schemas.topics import Topics, command_key

__all__ = [
    "ApiGroupData",
    "ClaimData",
    "Code",
    "Command",
    "CommandEnvelope",
    "CommandType",
    "DeadLetter",
    "Envelope",
    "GroupData",
    "Invalid",
    "OwnerType",
    "Problem",
    "ResultEvent",
    "Topics",
    "UnclaimData",
    "Unreadable",
    "command_key",
    "parse",
]
