"""Faults a test can switch on in a real worker (settings documented as test only)."""

from __future__ import annotations

from typing import Any

from badges_schemas.commands import Command
from badges_schemas.parsing import Unreadable


class DroppedDeliveries:
    """`Settings.drop_deliveries` for one command topic: the first delivery of each
    listed partition:offset is to be dropped."""

    def __init__(self, spec: str) -> None:
        self._pending = {_position(item) for item in spec.split(",") if item.strip()}

    def drop(self, partition: int, offset: int) -> bool:
        if (partition, offset) not in self._pending:
            return False
        self._pending.discard((partition, offset))  # the next delivery goes through
        return True


def _position(item: str) -> tuple[int, int]:
    partition, _, offset = item.strip().partition(":")
    return int(partition), int(offset)


class DeadLetteredTypes:
    """`Settings.dead_letter_types`: commands of the listed types are made unreadable."""

    REASON = "dead-lettered by the test switch BADGES_DEAD_LETTER_TYPES"

    def __init__(self, spec: str) -> None:
        self._types = frozenset(t.strip() for t in spec.split(",") if t.strip())

    def spoil(self, parsed: Any) -> Any:
        if self._types and isinstance(parsed, Command) and str(parsed.type) in self._types:
            return Unreadable(self.REASON)
        return parsed
