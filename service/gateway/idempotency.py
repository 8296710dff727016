"""Idempotency-Key: the commandId it stands for, and the request it was first used with.

commandId = uuid5(NAMESPACE, "<orgId>:<userId>:<key>"): two orgs' (or users') keys never
make the same command, and a key need not be a UUID. The request is identified by the
SHA-256 of its canonical JSON (the command type, and the payload: the body's fields and the
path's id), so the same key on another route, or with another body, is refused (422)
before anything is published; the same key with the same request is published again, and
the worker's command log answers it as the first time.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from badges_schemas.commands import CommandType

# Fixed forever: changing it would give every retried key a new commandId.
NAMESPACE = uuid.UUID("0f6d3c1e-6a8e-5b7c-9d41-2b3a4c5d6e7f")
HEADER = "Idempotency-Key"


def command_id_for(org_id: int, user_id: int, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{org_id}:{user_id}:{key}"))


def request_digest(command_type: CommandType, payload: dict[str, Any]) -> str:
    canonical = json.dumps({"type": str(command_type), "payload": payload}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
