"""Fence epochs: what a fence's offset is relative to. Pure.

An offset orders two commands only within one incarnation of a topic (a recreated topic
starts its offsets again) and one partition layout (a partition count change sends a key's
new commands to another partition, while its older ones may still wait in the old one).
An epoch is one such span: a number, in the order the worker met them, with the topic's id
and partition count, and the offset each partition's messages of the epoch start at. A
fence compares with another only in the same epoch; a later epoch is newer, whatever the
offsets (store/docs.py). Fences written before epochs existed have none: they are epoch 0, the
first epoch the worker records, which is the topic as it was then.

A group's consumer offsets reset lower open no epoch: the topic still holds the same
messages at the same offsets, so the offsets still order them (an older command read again
is older than what the documents reflect, and is answered so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Layout:
    """A topic as the broker describes it now."""

    topic_id: str
    partitions: int
    ends: Mapping[int, int]  # each partition's end offset when it was read


@dataclass(frozen=True)
class Epoch:
    number: int
    topic_id: str
    partitions: int
    starts: tuple[int, ...]  # by partition: the first offset of the epoch's messages

    def as_doc(self) -> dict[str, Any]:
        return {"n": self.number, "topicId": self.topic_id, "partitions": self.partitions,
                "starts": list(self.starts)}

    @staticmethod
    def from_doc(doc: Mapping[str, Any]) -> Epoch:
        return Epoch(doc["n"], doc["topicId"], doc["partitions"], tuple(doc["starts"]))

    def holds(self, topic_id: str, partition: int, offset: int) -> bool:
        return (topic_id == self.topic_id and partition < self.partitions
                and offset >= self.starts[partition])


def following(recorded: Sequence[Epoch], layout: Layout) -> Epoch | None:
    """The epoch to open for the topic as it is now; None while the latest one holds.

    A new topic id (the topic was recreated): every message it holds is of the new epoch.
    A new partition count: what the old partitions hold already is of the old epoch (a
    key's commands there are older than any of its commands in its new partition); what
    they get from now on, and all of the new partitions, is of the new one.
    """
    latest = recorded[-1] if recorded else None
    if latest is None:
        return Epoch(0, layout.topic_id, layout.partitions, (0,) * layout.partitions)
    if (latest.topic_id, latest.partitions) == (layout.topic_id, layout.partitions):
        return None
    repartitioned = latest.topic_id == layout.topic_id
    starts = tuple(layout.ends.get(p, 0) if repartitioned and p < latest.partitions else 0
                   for p in range(layout.partitions))
    return Epoch(latest.number + 1, layout.topic_id, layout.partitions, starts)


@dataclass(frozen=True)
class EpochTable:
    """A topic's epochs as a worker learned them at its assignment, and its id then."""

    epochs: tuple[Epoch, ...]
    topic_id: str

    def of(self, partition: int, offset: int) -> int:
        """The epoch of a message: the latest one of this incarnation begun at its offset."""
        for epoch in reversed(self.epochs):
            if epoch.holds(self.topic_id, partition, offset):
                return epoch.number
        return self.epochs[-1].number if self.epochs else 0
