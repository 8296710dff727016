"""Effects to and from the documents the command log stores them as."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from schemas import OwnerType
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
    doc = asdict(effect)
    if isinstance(effect, SetClaim):
        doc["key"]["owner_type"] = str(effect.key.owner_type)
    return {"kind": type(effect).__name__, **doc}


def effect_from_doc(doc: dict[str, Any]) -> Effect:
    fields = {k: v for k, v in doc.items() if k != "kind"}
    kind = doc["kind"]
    if kind == "SetClaim":
        key = fields.pop("key")
        key["owner_type"] = OwnerType(key["owner_type"])
        return SetClaim(key=ClaimKey(**key), **fields)
    if kind == "SaveGroup":
        return SaveGroup(Group(**fields["group"]))
    if kind == "ReserveName":
        return ReserveName(**fields)
    if kind == "ReleaseName":
        return ReleaseName(**fields)
    raise ValueError(f"unknown effect kind in command log: {kind!r}")
