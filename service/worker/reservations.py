"""The names a batch's new group commands will reserve, worked out before the batch is
decided, so that the store makes them in one bulk insert (`Store.reserve_ahead`) instead of
one round trip per create or rename, one after the other.

A dry run of the batch's group commands, in order, on a copy of the snapshot: as long as
every reservation succeeds, the handler then makes the same decisions, and takes each
reservation from those made ahead. One that fails (the name taken by another worker since
the batch read it) changes its command's decision, and perhaps later ones: the handler
reserves as it always did, and the store removes what was made ahead and not taken before
the batch is logged (`Store.drop_unused`). Claims never touch groups or names, so the dry
run skips them.

A name that an earlier command of the batch releases is not reserved ahead: its
reservation waits for that release (handler._release_logged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from badges_schemas import Command
from service.domain.decisions import superseded
from service.domain.dispatch import decide
from service.domain.model import Decision, Effect, ReleaseName, ReserveName
from service.domain.state import NameKey, Snapshot
from service.store.docs import Fence, is_past, written_document

Ahead = tuple[ReserveName, Fence | None, str]  # the name, its fence, its command's log key


@dataclass(frozen=True)
class GroupCommand:
    """A group command of the batch, the first time its log key appears in it."""

    command: Command
    at: float
    fence: Fence | None
    key: str
    replayed: tuple[Effect, ...] | None  # a pending log entry's effects; None: a new one


def first_decision(command: Command, at: float, snapshot: Snapshot,
                   positions: Mapping[str, Fence], fence: Fence | None) -> Decision:
    """The command's decision against the snapshot; superseded if the document it writes
    already reflects a newer command (see handler._decide_in_order)."""
    document = written_document(command)
    if fence is not None and document is not None and is_past(positions.get(document), fence):
        return superseded()
    return decide(command, snapshot, at)


def advance(positions: dict[str, Fence], command: Command, fence: Fence | None,
            decision: Decision) -> None:
    """A decision with effects moves the fenced document it writes to the command's fence."""
    document = written_document(command)
    if decision.effects and fence is not None and document is not None:
        positions[document] = fence


def names_ahead(commands: Iterable[GroupCommand], snapshot: Snapshot,
                positions: Mapping[str, Fence]) -> list[Ahead]:
    """The reservations the new commands' decisions make, if every one succeeds."""
    trial = Snapshot(groups=dict(snapshot.groups), names=dict(snapshot.names))
    moved = dict(positions)
    released: set[NameKey] = set()
    ahead: list[Ahead] = []
    for planned in commands:
        if planned.replayed is not None:
            effects = planned.replayed  # its reservations are the handler's (_replay)
        else:
            decision = first_decision(planned.command, planned.at, trial, moved, planned.fence)
            advance(moved, planned.command, planned.fence, decision)
            effects = decision.effects
            ahead += [(e, planned.fence, planned.key) for e in effects
                      if isinstance(e, ReserveName) and (e.org_id, e.name) not in released]
        for effect in effects:
            if isinstance(effect, ReleaseName):
                released.add((effect.org_id, effect.name))
            trial.apply(effect)
    return ahead
