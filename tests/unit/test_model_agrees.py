"""The reference model (tests/chaos/model.py, written without service/) and the service agree.

The service side is the real parser and handler over an in-memory store, one agent's
messages in order; the model folds the same raw messages. Answers must match (see
`answers_match`) and so must the claims, groups and name reservations left behind.
"""

from __future__ import annotations

import ast
import json
import random
from collections import defaultdict
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chaos import fuzz, model
from tests.chaos.fuzz import TOPICS, UPDATES, messages
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


@settings(max_examples=120, deadline=None)
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


def test_the_model_and_the_generator_import_nothing_of_the_service() -> None:
    for module in (model, fuzz):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.split(".")[0] in ("service", "schemas")], module


def test_a_copy_of_the_model_is_independent() -> None:
    original = Model()
    claim = {"commandId": "0b6f4d1e-2f3a-4c55-9d7e-1f2a3b4c5d6e", "type": "ClaimBadge",
             "orgId": 1, "actorId": 2, "payload": {"badgeId": "6581281e8f68666070de15c5",
                                                   "ownerType": "Loyalty", "referenceId": "1"}}
    copied = original.copy()
    assert copied.apply(claim, 1.7e9)["errors"] == []
    assert (original.claims, original.answers) == ({}, {})
    assert len(copied.claims) == 1


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**32), st.randoms(use_true_random=False))
def test_without_renames_answers_do_not_depend_on_partition_interleaving(
    seed: int, rnd: random.Random
) -> None:
    """What a run on many partitions and workers may do: keep each key's order, mix the rest
    (creates still answered before updates are sent)."""
    sent = messages(300, seed, renames=False)
    split = next((i for i, m in enumerate(sent) if m.topic == UPDATES), len(sent))
    in_order, mixed = Model(), Model()
    expected = [in_order.apply_raw(m.value, m.timestamp_ms / 1000, m.topic) for m in sent]
    got: dict[int, object] = {}
    for start, end in ((0, split), (split, len(sent))):
        queues: dict[tuple[str, bytes | None], list[int]] = defaultdict(list)
        for i in range(start, end):
            queues[(sent[i].topic, sent[i].key)].append(i)
        while queues:
            key = rnd.choice(sorted(queues, key=repr))
            i = queues[key].pop(0)
            got[i] = mixed.apply_raw(sent[i].value, sent[i].timestamp_ms / 1000, sent[i].topic)
            if not queues[key]:
                del queues[key]
    assert [got[i] for i in range(len(sent))] == expected
    assert (mixed.claims, mixed.groups, mixed.names) == (
        in_order.claims, in_order.groups, in_order.names)
