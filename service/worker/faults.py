"""Faults a test can switch on in a real worker (settings documented as test only)."""

from __future__ import annotations


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
