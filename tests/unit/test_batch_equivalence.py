"""Deciding commands in batches gives the answers and state of deciding them one at a time.

The real handler (`store_batch`) over an in-memory store: a batch reads its state once and
decides against a snapshot that follows its own effects, so splitting a sequence into
batches any way must change nothing that is published or stored.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.memory_store import MemoryStore, Message, run_batches
from tests.unit.strategies import command_sequences


def _outcome(batches: list[list[Message]]) -> tuple[list[tuple[bool, bytes]], tuple[object, ...]]:
    store = MemoryStore()
    out = run_batches(store, batches)
    return [(o.dead_letter, o.value) for o in out], store.state()


def _split(sequence: list[Message], cuts: list[int]) -> list[list[Message]]:
    bounds = [0, *sorted({c % (len(sequence) + 1) for c in cuts}), len(sequence)]
    return [sequence[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=150, deadline=None)
@given(command_sequences(), st.lists(st.integers(0, 100), max_size=5))
def test_one_batch_or_any_split_equals_one_at_a_time(
    sequence: list[Message], cuts: list[int]
) -> None:
    one_by_one = _outcome([[m] for m in sequence])
    assert _outcome([sequence]) == one_by_one
    assert _outcome(_split(sequence, cuts)) == one_by_one
