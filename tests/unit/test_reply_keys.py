"""Answers echo the command's key, unless it is too long to fit beside the answer."""

from __future__ import annotations

import hashlib
import json

from tests.unit.memory_store import MemoryStore, run_batches

CID = "0b6f4d1e-2f3a-4c55-9d7e-1f2a3b4c5d6e"
INVALID = json.dumps({"commandId": CID, "type": "Nope", "orgId": 1, "actorId": 1,
                      "payload": {}}).encode()


def test_a_contract_sized_key_is_echoed() -> None:
    key = b"1:" + "é".encode() * 256  # an org and a 256-character name: the longest key
    [answer] = run_batches(MemoryStore(), [[("badge-claims", key, INVALID, 1.7e9)]])
    assert answer.key == key


def test_a_key_near_the_record_limit_is_replaced_by_its_digest() -> None:
    key = b"\xff" * 1_000_000
    digest = hashlib.sha256(key).hexdigest().encode()
    answer, letter = run_batches(MemoryStore(), [[("badge-claims", key, INVALID, 1.7e9),
                                                  ("badge-claims", key, b"not json", 1.7e9)]])
    assert (answer.key, letter.key) == (digest, digest)
    assert len(answer.value) < 1_000 and len(letter.value) < 6_000
    assert json.loads(letter.value)["key"] == "\ufffd" * 1024  # its first KiB
