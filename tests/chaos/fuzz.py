"""Generated and mutated command messages, interleaved with valid commands, for a live fuzz.

`messages(count, seed)` gives `count` messages, reproducible from the seed, as
`FuzzMessage(topic, key, value, kind, timestamp_ms)`: the topic suffix ("badge-claims",
"create-badge-group", "update-badge-group"), the key and value bytes to publish (one of
them may be None; a valid command always has the contract's key), what the service must
make of it according to the reference model ("valid",
"invalid" or "unreadable", see `model.verdict`), and the record timestamp to publish it with
(the time of the commands that carry no issuedAt).

About half are valid commands on pools of badges, owners, orgs and names small enough that
claims toggle and names collide, plus exact resends; the rest are mutations of a valid
command: wrong types, huge strings, deep nesting, invalid UTF-8 and lone surrogates,
`$`-operators in string fields, unknown or misrouted types, missing fields, duplicated
keys, numbers out of range, and values that are not JSON objects at all. A mutation gets a
commandId of its own, so that its answer does not depend on the order of other topics.

Every create-topic message comes before the first update-topic message, and the update
commands name groups created before them: a run that publishes the list in order, with one
partition per topic and the creates answered before the updates are sent, has one correct
answer per message, the model's (with `renames=False`, on any number of partitions).
`python -m tests.chaos.fuzz --count 10000 --seed 1` prints a summary of what would be sent.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tests.chaos.model import OWNER_TYPES, issued_at, new_group_id, read, verdict

CLAIMS, CREATES, UPDATES = "badge-claims", "create-badge-group", "update-badge-group"
TOPICS = (CLAIMS, CREATES, UPDATES)
ORGS = (50156, 7, 900001)
# Record timestamps start here by default, one millisecond apart. A live run passes the
# current time instead: the broker deletes records older than the topic's retention.
START_MS = 1_764_300_000_000
MUTATION_ATTEMPTS = 20
OVERSIZED_KEYS = 0.005  # share of the bad messages whose key nearly fills a record
LIMIT_BYTES = 1_040_000  # key + value of such a record: under the broker's 1 MiB default
HUGE = (300, 5_000, 60_000)  # lengths of huge strings (the contract allows 256)
DEEP = (20, 500, 5_000, 50_000)  # nesting depths; the deepest are beyond any JSON parser's
OPERATORS = ({"$ne": None}, {"$gt": ""}, {"$where": "1"}, {"$in": ["a"]}, {"$regex": ".*"})
ODD_TEXT = ("$ne", "$where", "a.b", "\x00", "nul\x00in", "Ünïcødé ✓", "\u202egroup", "💥",
            " ", "\n", "a:b", '{"$gt": ""}', "null")

Doc = dict[str, Any]


class FuzzMessage(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    kind: str
    timestamp_ms: int


class _Pools:
    """The entities valid commands are about: small, so that commands meet."""

    def __init__(self, rnd: random.Random) -> None:
        self.badges = [f"{rnd.getrandbits(96):024x}" for _ in range(12)]
        self.refs = ["123", "ABC", "$ne", "ref:with:colons"]
        self.create_names = [f"GROUP_RANK_{i}" for i in range(8)] + ["$gt", "Gold", "gold"]
        self.update_names = [f"RENAMED_{i}" for i in range(6)] + ["Gold", "GROUP_RANK_1"]
        self.groups: list[tuple[int, str, str]] = []  # (org, id, name) of the creates so far


class _Generator:
    def __init__(self, seed: int, start_ms: int, renames: bool) -> None:
        self.rnd = random.Random(seed)
        self.renames = renames
        self.pools = _Pools(self.rnd)
        self.sent: dict[str, list[FuzzMessage]] = {t: [] for t in TOPICS}
        self.clock = start_ms

    # -- valid commands ---------------------------------------------------------------

    def command_id(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def envelope(self, type_: str, payload: Doc, issued: bool) -> Doc:
        doc: Doc = {"commandId": self.command_id(), "type": type_,
                    "orgId": self.rnd.choice(ORGS), "actorId": self.rnd.randint(1, 999),
                    "payload": payload}
        if issued:
            seconds = self.clock / 1000 - self.rnd.randint(0, 86_400)
            doc["issuedAt"] = _iso(seconds)
        return doc

    def claim(self) -> Doc:
        type_ = self.rnd.choice(("ClaimBadge", "UnclaimBadge"))
        badge = self.rnd.choice(self.pools.badges)
        payload = {"badgeId": badge.upper() if self.rnd.random() < 0.1 else badge,
                   "ownerType": self.rnd.choice(sorted(OWNER_TYPES)[:3]),
                   "referenceId": self.rnd.choice(self.pools.refs)}
        return self.envelope(type_, payload, issued=self.rnd.random() < 0.5)

    def create(self, register: bool = True) -> Doc:
        payload = {"name": self.rnd.choice(self.pools.create_names),
                   "rank": self.rnd.randint(-5, 100)}
        # Always with issuedAt: the generator derives the group id from it, as the service.
        doc = self.envelope("CreateBadgeGroup", payload, issued=True)
        at = issued_at(doc["issuedAt"])
        assert at is not None
        if register:  # a valid create: later updates may name its group
            gid = new_group_id(doc["orgId"], doc["commandId"], at)
            self.pools.groups.append((doc["orgId"], gid, payload["name"]))
        return doc

    def update(self) -> Doc:
        org, gid, name = (self.rnd.choice(self.pools.groups) if self.pools.groups
                          else (ORGS[0], "0" * 24, "GROUP_RANK_0"))
        if self.rnd.random() < 0.05:
            org = self.rnd.choice(ORGS)  # maybe another org's group: not found
        if self.renames:
            name = self.rnd.choice(self.pools.update_names + self.pools.create_names[:2])
        payload = {"groupId": gid.upper() if self.rnd.random() < 0.1 else gid, "name": name,
                   "rank": self.rnd.randint(0, 10)}
        doc = self.envelope("UpdateBadgeGroup", payload, issued=self.rnd.random() < 0.5)
        doc["orgId"] = org
        return doc

    def command(self, topic: str, register: bool) -> Doc:
        if topic == CREATES:
            return self.create(register)
        return self.claim() if topic == CLAIMS else self.update()

    # -- messages ---------------------------------------------------------------------

    def emit(self, topic: str, key: bytes | None, value: bytes | None) -> FuzzMessage:
        self.clock += 1
        if key is None and value is None:
            key = b"tombstone"  # a Kafka record needs one of the two
        kind = verdict(value, topic)
        if kind == "valid":  # valid commands carry the contract's key: their order is kept
            key = entity_key(read(value))
        message = FuzzMessage(topic, key, value, kind, self.clock)
        self.sent[topic].append(message)
        return message

    def valid(self, topic: str) -> FuzzMessage:
        doc = self.command(topic, register=True)
        return self.emit(topic, entity_key(doc), json.dumps(doc).encode())

    def resend(self, topic: str) -> FuzzMessage | None:
        """The same message again: same key, same bytes (a producer's retry)."""
        if not self.sent[topic]:
            return None
        earlier = self.rnd.choice(self.sent[topic])
        return self.emit(topic, earlier.key, earlier.value)

    def mutated(self, topic: str) -> FuzzMessage:
        # A mutated create may still make its group, perhaps under a mutated name: updates
        # name only the groups of unmutated creates.
        doc = self.command(topic, register=False)
        if self.rnd.random() < OVERSIZED_KEYS:
            return self.oversized_key(topic, doc)
        for _ in range(MUTATION_ATTEMPTS):
            value = self.rnd.choice(MUTATIONS)(self, json.loads(json.dumps(doc)))
            # Without renames, no update may change a name: a mutation must not make one.
            if self.renames or topic != UPDATES or verdict(value, topic) != "valid":
                break
        else:
            value = unknown_type(self, doc)
        key = entity_key(doc) if self.rnd.random() < 0.8 else self.odd_key()
        return self.emit(topic, key, value)

    def oversized_key(self, topic: str, doc: Doc) -> FuzzMessage:
        """A key as large as the broker takes, with a small value: answered, the key is not
        echoed (it would not fit with the answer)."""
        value = self.rnd.choice((b"not json", _encode({**doc, "type": "Nope"})))
        key = self.rnd.choice((b"\xff", b"k")) * (LIMIT_BYTES - len(value))
        return self.emit(topic, key, value)

    def odd_key(self) -> bytes | None:
        return self.rnd.choice((None, b"", b"\xff\xfe", b"k" * 2000, b"$ne"))

    # -- values for mutations ---------------------------------------------------------

    def wrong_value(self) -> Any:
        return self.rnd.choice((
            None, True, 0, -1, 1.5, float("nan"), "", "x", [], [1, "a"], {}, {"a": 1},
            2**63, -(2**63) - 1, 2**200, self.rnd.choice(OPERATORS),
        ))

    def huge_text(self) -> str:
        return self.rnd.choice("aZ$é✓") * self.rnd.choice(HUGE)

    def deep(self) -> str:
        """Nested arrays or objects, as JSON text (json.dumps itself would refuse the depth)."""
        depth = self.rnd.choice(DEEP)
        if self.rnd.random() < 0.5:
            return "[" * depth + "]" * depth
        return '{"a":' * depth + "1" + "}" * depth


def entity_key(doc: Doc) -> bytes | None:
    """The key the contract asks for, when the command has what it is made of."""
    payload = doc.get("payload")
    if not isinstance(payload, dict):
        return None
    for field in ("badgeId", "groupId"):
        if isinstance(payload.get(field), str):
            return payload[field].lower().encode("utf-8", "replace")
    if "name" in payload:
        return f"{doc.get('orgId')}:{payload['name']}".encode("utf-8", "replace")
    return None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _fields(doc: Doc) -> list[tuple[Doc, str]]:
    """(container, member) for every member of the envelope and the payload."""
    found = [(doc, k) for k in doc]
    if isinstance(doc.get("payload"), dict):
        found += [(doc["payload"], k) for k in doc["payload"]]
    return found


def _encode(doc: Doc) -> bytes:
    return json.dumps(doc).encode()


def _string_fields(doc: Doc) -> list[tuple[Doc, str]]:
    return [(c, k) for c, k in _fields(doc) if isinstance(c[k], str)]


def _pick(gen: _Generator, fields: list[tuple[Doc, str]]) -> tuple[Doc, str]:
    return fields[gen.rnd.randrange(len(fields))]


def wrong_type(gen: _Generator, doc: Doc) -> bytes:
    container, member = _pick(gen, _fields(doc))
    container[member] = gen.wrong_value()
    return _encode(doc)


def huge_string(gen: _Generator, doc: Doc) -> bytes:
    container, member = _pick(gen, _fields(doc))
    container[member] = gen.huge_text()
    return _encode(doc)


def deep_nesting(gen: _Generator, doc: Doc) -> bytes:
    container, member = _pick(gen, _fields(doc))
    marker = "__DEEP__"
    container[member] = marker
    return _encode(doc).replace(f'"{marker}"'.encode(), gen.deep().encode())


def operator_everywhere(gen: _Generator, doc: Doc) -> bytes:
    """`$`-operators in every string field at once, as objects or as `$` strings."""
    for container, member in _string_fields(doc):
        if member == "commandId" and gen.rnd.random() < 0.7:
            continue  # keep most answerable, so the operator reaches the other fields
        container[member] = gen.rnd.choice((*OPERATORS, "$ne", "$where", "$gt"))
    return _encode(doc)


def odd_text(gen: _Generator, doc: Doc) -> bytes:
    """Strings a naive store mishandles (NUL, `$`, dots, RTL, emoji): valid where free text."""
    container, member = _pick(gen, _string_fields(doc))
    container[member] = gen.rnd.choice(ODD_TEXT)
    return _encode(doc)


def bad_utf8(gen: _Generator, doc: Doc) -> bytes:
    """Invalid UTF-8 bytes in a string (unreadable), or an escaped lone surrogate (invalid)."""
    container, member = _pick(gen, _string_fields(doc))
    marker = "__BAD__"
    container[member] = marker + "x"
    raw = b"\xff\xc3(" if gen.rnd.random() < 0.5 else b"\\ud800"
    return _encode(doc).replace(marker.encode(), raw)


def unknown_type(gen: _Generator, doc: Doc) -> bytes:
    doc["type"] = gen.rnd.choice((
        "DeleteBadge", "claimbadge", "", "ClaimBadge ", "UnclaimBadge", "CreateBadgeGroup",
        "UpdateBadgeGroup", "X" * 2_000, "$where",
    ))
    return _encode(doc)


def missing_field(gen: _Generator, doc: Doc) -> bytes:
    container, member = _pick(gen, _fields(doc))
    del container[member]
    return _encode(doc)


def duplicated_key(gen: _Generator, doc: Doc) -> bytes:
    """A member written twice with different values: JSON parsers keep the last."""
    container, member = _pick(gen, _fields(doc))
    extra = json.dumps(gen.wrong_value() if gen.rnd.random() < 0.7 else container[member])
    text = _encode(doc).decode()
    pair = f'{json.dumps(member)}: {extra}, '
    if container is doc and gen.rnd.random() < 0.5:
        text = "{" + pair + text[1:]  # the duplicate first: the original wins
    elif container is doc:
        text = text[:-1] + ", " + pair[:-2] + "}"  # the duplicate last: it wins
    else:
        head = text.index('"payload": {') + len('"payload": {')
        text = text[:head] + pair + text[head:]
    return text.encode()


def not_an_object(gen: _Generator, doc: Doc) -> bytes | None:
    return gen.rnd.choice((
        None, b"", b"null", b"[]", b"42", b'"ClaimBadge"', b"{", _encode(doc)[:-3],
        bytes(gen.rnd.getrandbits(8) for _ in range(gen.rnd.randint(1, 64))),
        _encode(doc).decode().encode("utf-16"), b"\xef\xbb\xbf" + _encode(doc),
    ))


def bad_command_id(gen: _Generator, doc: Doc) -> bytes:
    doc["commandId"] = gen.rnd.choice((
        None, 12, "", "not-a-uuid", doc["commandId"][:-1], doc["commandId"] + "0",
        doc["commandId"].upper(), "{" + doc["commandId"] + "}", doc["commandId"].replace("-", ""),
        "urn:uuid:" + doc["commandId"], {"$ne": None},
    ))
    return _encode(doc)


def bad_time(gen: _Generator, doc: Doc) -> bytes:
    doc["issuedAt"] = gen.rnd.choice((
        "1969-12-31T23:59:59Z", "2106-02-07T06:28:16Z", "9999-12-31T23:59:59Z", "yesterday",
        "2026-02-30T00:00:00Z", 1.5e300, -1, "2026-11-28T05:00:00", "2026-11-28T05:00:00+05:30",
    ))
    return _encode(doc)


Mutation = Callable[[_Generator, Doc], bytes | None]
MUTATIONS: tuple[Mutation, ...] = (
    wrong_type, huge_string, deep_nesting, operator_everywhere, odd_text, bad_utf8,
    unknown_type, missing_field, duplicated_key, not_an_object, bad_command_id, bad_time,
)


def messages(count: int, seed: int, start_ms: int = START_MS, renames: bool = True,
             bad_share: float = 0.5, resend_share: float = 0.03) -> list[FuzzMessage]:
    """`count` messages; every create-topic one before the first update-topic one.

    With `renames=False` no update changes a group's name: then every answer is the same
    whatever the partition count and however the partitions interleave (each entity's
    commands share a key, and no command reads another key's entity), so several workers
    on many partitions must give exactly the model's answers.
    """
    gen = _Generator(seed, start_ms, renames)
    out: list[FuzzMessage] = []
    for i in range(count):
        # First half: claims and creates; second half: claims and updates.
        topic = CLAIMS if gen.rnd.random() < 0.5 else (CREATES if i < count // 2 else UPDATES)
        roll = gen.rnd.random()
        message = gen.resend(topic) if roll < resend_share else None
        if message is None:
            message = gen.mutated(topic) if roll < resend_share + bad_share else gen.valid(topic)
        out.append(message)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-renames", action="store_true", help="updates keep the name")
    args = parser.parse_args()
    found = messages(args.count, args.seed, renames=not args.no_renames)
    kinds = Counter((m.topic, m.kind) for m in found)
    for (topic, kind), n in sorted(kinds.items()):
        print(f"{topic:20} {kind:10} {n}")
    print(f"{'total':20} {'':10} {len(found)}, {sum(len(m.value or b'') for m in found)} bytes")


if __name__ == "__main__":
    main()
