"""Effects to and from the documents the command log stores them as."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import is_dataclass
from typing import Any

from badges_schemas import OwnerType
from service.domain.model import (
    ClaimKey,
    Effect,
    Group,
    ReleaseName,
    ReserveName,
    SaveGroup,
    SetClaim,
)


def effect_to_doc(effect: Effect) -> dict[str, Any]:
    doc = _fields(effect)
    if isinstance(effect, SetClaim):
        doc["key"]["owner_type"] = str(effect.key.owner_type)
    return {"kind": type(effect).__name__, **doc}


def _fields(obj: Any) -> dict[str, Any]:
    # What dataclasses.asdict gives for these flat records, without its deep copies
    # (asdict was a twentieth of the worker's CPU).
    return {k: _fields(v) if is_dataclass(v) else v for k, v in vars(obj).items()}


def effect_from_doc(doc: dict[str, Any]) -> Effect:
    fields = {k: v for k, v in doc.items() if k != "kind"}
    kind = doc["kind"]
    if kind == "SetClaim":
        key = fields.pop("key")
        key["owner_type"] = OwnerType(key["owner_type"])
        return SetClaim(key=ClaimKey(**key), **fields)
    if kind == "SaveGroup":
        group = Group(**fields["group"])
        # Entries written before `created` existed: only a creation has equal times.
        created = fields.get("created", group.created_on == group.last_updated_on)
        return SaveGroup(group, created=created)
    if kind == "ReserveName":
        return ReserveName(**fields)
    if kind == "ReleaseName":
        return ReleaseName(**fields)
    raise ValueError(f"unknown effect kind in command log: {kind!r}")


def effects_to_log(effects: Sequence[Effect]) -> str:
    return json.dumps([effect_to_doc(e) for e in effects])


def effects_from_log(stored: str | list[dict[str, Any]]) -> tuple[Effect, ...]:
    """A log entry's effects: a JSON string, or a list of documents as releases before wrote."""
    docs = json.loads(stored) if isinstance(stored, str) else stored
    return tuple(effect_from_doc(d) for d in docs)
