"""The reference model (tests/chaos/model.py, written without service/) and the service agree.

The service side is the real parser and handler over an in-memory store, one agent's
messages in order; the model folds the same raw messages. Answers must match (see
`answers_match`) and so must the claims, groups and name reservations left behind.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chaos.fuzz import TOPICS, messages
from tests.chaos.model import Model, answers_match
from tests.unit.memory_store import MemoryStore, Message, run_batches
from tests.unit.strategies import broken_documents, command_sequences


def _agree(sequence: list[Message], batches: list[list[Message]]) -> None:
    store, model = MemoryStore(), Model()
    published = run_batches(store, batches)
    assert len(published) == len(sequence)
    for (topic, _, value, at), out in zip(sequence, published, strict=True):
        expected = model.apply_raw(value, at, topic)
        if expected is None:
            assert out.dead_letter, value
        else:
            actual = json.loads(out.value)
            assert answers_match(expected, actual), (value, expected, actual)
    claims, groups, names, _ = store.state()
    assert (claims, groups, names) == (model.claims, model.groups, model.names)


@settings(max_examples=150, deadline=None)
@given(command_sequences(),
       st.lists(st.tuples(broken_documents(), st.sampled_from(TOPICS), st.integers(0, 30)),
                max_size=5))
def test_on_commands_and_broken_ones(sequence: list[Message],
                                     broken: list[tuple[bytes, str, int]]) -> None:
    for raw, topic, position in broken:  # mixed in among the valid commands
        sequence.insert(position % (len(sequence) + 1), (topic, b"k", raw, 1.7e9))
    _agree(sequence, [sequence])


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32))
def test_on_the_live_fuzz_messages(seed: int) -> None:
    sequence = [(m.topic, m.key, m.value, m.timestamp_ms / 1000) for m in messages(300, seed)]
    _agree(sequence, [sequence[i:i + 40] for i in range(0, len(sequence), 40)])
