"""What a held MongoDB request would have written: the claim updates in an OP_MSG.

The chaos run holds a worker's write to the claims (tests/infra/forward.py `Hold`) while it
freezes that worker; afterwards, the stored claims show whether the write landed or was
fenced. Wire format: MongoDB's OP_MSG (header, flags, then sections: kind 0 one BSON
document, kind 1 a named sequence of them).
"""

from __future__ import annotations

import struct
from typing import Any

import bson

OP_MSG = 2013


def claim_updates(data: bytes) -> dict[str, dict[str, Any]]:
    """{claim _id: the fields it would have set (its fence among them)} of an update of
    badge_claims (empty if `data` is not a whole one)."""
    if len(data) < 21:
        return {}
    length, _, _, opcode = struct.unpack_from("<iiii", data)
    if opcode != OP_MSG or len(data) < length:
        return {}
    command: dict[str, Any] = {}
    updates: list[dict[str, Any]] = []
    pos = 20  # the header, then the flags
    while pos < length - 4 if data[16] & 1 else pos < length:  # flag 1: a checksum ends it
        kind, pos = data[pos], pos + 1
        (size,) = struct.unpack_from("<i", data, pos)
        if kind == 0:
            command = bson.decode(data[pos:pos + size])
        else:
            name_end = data.index(b"\x00", pos + 4)
            updates += bson.decode_all(data[name_end + 1:pos + size])
        pos += size
    if command.get("update") != "badge_claims":
        return {}
    updates += command.get("updates", [])
    return {u["q"]["_id"]: u["u"].get("$set", {}) for u in updates
            if isinstance(u.get("q", {}).get("_id"), str)}
