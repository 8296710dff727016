"""Contracts of the badge command service: messages, codes, topics. Imports nothing of service/."""

from schemas.codes import Code
from schemas.commands import Command, CommandEnvelope, CommandType, OwnerType
from schemas.envelope import Envelope, Problem
from schemas.parsing import Invalid, Unreadable, parse
from schemas.results import ApiGroupData, ClaimData, DeadLetter, GroupData, ResultEvent, UnclaimData
from schemas.topics import Topics, command_key

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
