"""Faults a test can switch on in a real worker (settings documented as test only)."""

from __future__ import annotations


class DroppedDeliveries:
    """`Settings.drop_deliveries`: the first delivery of each listed partition:offset of
    each command topic is to be dropped."""

    def __init__(self, spec: str) -> None:
        self._pending = {_position(item) for item in spec.split(",") if item.strip()}
        self._dropped: set[tuple[str, int, int]] = set()

    def drop(self, topic: str, partition: int, offset: int) -> bool:
        if (partition, offset) not in self._pending or (topic, partition, offset) in \
                self._dropped:
            return False
        self._dropped.add((topic, partition, offset))
        return True


def _position(item: str) -> tuple[int, int]:
    partition, _, offset = item.strip().partition(":")
    return int(partition), int(offset)
