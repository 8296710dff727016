"""Which codes each route can answer, and with which status (the OpenAPI document lists them).

The type of a command comes from the path and its orgId and actorId from the credentials,
so the worker can never answer 9001 (unknown type) or 9000 (malformed envelope) to the
gateway; 9000 is the gateway's own answer to a body that is not a JSON object.
"""

from __future__ import annotations

from badges_schemas import Code
from badges_schemas.commands import CommandType

# 400: what the worker decides about the body's fields and the path's id.
COMMAND_CODES: dict[CommandType, tuple[Code, ...]] = {
    CommandType.CLAIM_BADGE: (Code.INVALID_ENUM, Code.OWNER_ID_MANDATORY,
                              Code.INVALID_BADGE_ID, Code.INVALID_FIELD, Code.SUPERSEDED),
    CommandType.UNCLAIM_BADGE: (Code.INVALID_ENUM, Code.OWNER_ID_MANDATORY,
                                Code.CLAIM_NOT_FOUND, Code.INVALID_BADGE_ID,
                                Code.INVALID_FIELD, Code.SUPERSEDED),
    CommandType.CREATE_BADGE_GROUP: (Code.GROUP_RANK_MANDATORY, Code.GROUP_NAME_NOT_UNIQUE,
                                     Code.INVALID_FIELD, Code.GROUP_NAME_MANDATORY),
    CommandType.UPDATE_BADGE_GROUP: (Code.GROUP_RANK_MANDATORY, Code.GROUP_NAME_NOT_UNIQUE,
                                     Code.INVALID_GROUP_ID, Code.GROUP_NOT_FOUND,
                                     Code.INVALID_FIELD, Code.GROUP_NAME_MANDATORY,
                                     Code.SUPERSEDED),
}
# 200 with a warning.
COMMAND_WARNINGS: dict[CommandType, tuple[Code, ...]] = {
    CommandType.CLAIM_BADGE: (Code.CLAIM_ALREADY_ACTIVE,),
}
UNREACHABLE = (Code.MALFORMED_COMMAND, Code.UNKNOWN_COMMAND_TYPE)  # from the worker


def listed(codes: tuple[Code, ...]) -> str:
    return ", ".join(f"{c.value} ({c.message})" for c in codes)
