"""The one registry of result codes.

The first five are the Badges API's own codes and messages, kept verbatim because
upstream modules already match on them. The 90xx codes are the service's: the API
defines none for these cases, so they live in a range the API does not use.
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    """A result code; `.message` is its fixed human text."""

    message: str

    def __new__(cls, value: int, message: str) -> Code:
        member = int.__new__(cls, value)
        member._value_ = value
        member.message = message
        return member

    INVALID_ENUM = 400, "Invalid enum value"
    OWNER_ID_MANDATORY = 717, "OwnerId is mandatory"
    GROUP_RANK_MANDATORY = 732, "Group Rank is Mandatory."
    GROUP_NAME_NOT_UNIQUE = 733, "Group Name should be Unique."
    CLAIM_NOT_FOUND = 737, "Claim not found in existing claims"

    MALFORMED_COMMAND = 9000, "Malformed command"
    UNKNOWN_COMMAND_TYPE = 9001, "Unknown command type"
    INVALID_BADGE_ID = 9002, "Badge id must be a 24-hex-digit ObjectId"
    INVALID_GROUP_ID = 9003, "Group id must be a 24-hex-digit ObjectId"
    GROUP_NOT_FOUND = 9004, "Group not found"
    INVALID_FIELD = 9005, "Invalid field value"
    GROUP_NAME_MANDATORY = 9006, "Group Name is Mandatory."
    SUPERSEDED = 9007, "Not applied: a newer command about it was applied first"
    # Answered by the REST gateway itself, never carried by a result event.
    UNAUTHORIZED = 9010, "Missing or wrong credentials"
    IDEMPOTENCY_KEY_REUSED = 9011, "Idempotency-Key already used with a different request"
    NO_RESULT_IN_TIME = 9012, "No result in time"
    UNAVAILABLE = 9013, "Kafka or MongoDB unavailable"
    UNKNOWN_PATH = 9014, "No such path"
    METHOD_NOT_ALLOWED = 9015, "Method not allowed on this path"
    INVALID_QUERY = 9016, "Unknown, repeated or invalid query parameter"
    INTERNAL_ERROR = 9017, "Internal error"
    MALFORMED_RESULT = 9018, "The command's result event is malformed"
    ACCESS_DENIED = 9019, "No access to this resource group"
    TOO_MANY_CHECKS = 9020, "Too many credential checks waiting; retry shortly"

    CLAIM_ALREADY_ACTIVE = 9100, "Claim already active"
