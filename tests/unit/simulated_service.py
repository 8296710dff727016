"""A simulated chaos run, for the checker's own tests: what it would observe of a service.

The workload of a chaos run (40 names per org, as `make chaos`) is published at the run's
rate over 12 partitions per topic; workers take batches of up to 20 from whichever
partition has messages waiting, now and then stall for a while (as in a fault) so that
queues build up, and decide each batch against the state every batch before it left: the
reference model does the deciding, so a run without a bug is correct by construction, and
group commands of different partitions interleave as they do in a real run. An observer
receives each answer a little after its batch: the real-time order the checker holds a run
to. Each seeded bug changes one thing, named in BUGS.
"""

from __future__ import annotations

import copy
import json
import random
import zlib
from collections import deque
from collections.abc import Sequence
from typing import Any

from tests.chaos.check import Answer, Record, Stored
from tests.chaos.fuzz import CLAIMS, CREATES, UPDATES, entity_key
from tests.chaos.model import Model, read, verdict
from tests.chaos.workload import Message

Doc = dict[str, Any]
PARTITIONS = 12
RATE = 50.0  # commands per second, as the full chaos run
STALE_AFTER = 40  # messages: how far behind the stale group cache is
LATE_RELEASE = 60  # messages: how late the lazy release frees the old name
BUGS = ("stale_group_read", "lazy_name_release", "lost_rank_only_update",
        "leaked_reservation", "code_733_for_732", "code_732_for_733", "create_applied_twice",
        "lost_command", "claims_decided_again", "claims_out_of_order")


def records_of(messages: Sequence[Message], start: float = 1_764_300_000.0) -> list[Record]:
    """The messages as the command topics hold them, published at RATE from `start`."""
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for i, m in enumerate(messages):
        partition = zlib.crc32(m.key or b"") % PARTITIONS
        offset = offsets.get((m.topic, partition), 0)
        offsets[(m.topic, partition)] = offset + 1
        out.append(Record(m.topic, partition, offset, m.key, m.value,
                          int((start + i / RATE) * 1000)))
    return out


def with_a_last_rank_only_update(messages: Sequence[Message]) -> list[Message]:
    """The messages and, after them, an update that changes only the rank of a group a
    correct run leaves active: a lost rank-only update is seen only when nothing rewrites
    the group after it (an update sets the rank too)."""
    model = Simulation(records_of(messages)).run()[3]
    gid, group = min((g, d) for g, d in model.groups.items() if d.get("isActive", True))
    doc = {"commandId": "00000000-0000-4000-8000-00000000c0de", "type": "UpdateBadgeGroup",
           "orgId": group["orgId"], "actorId": 1, "issuedAt": "2026-11-28T09:18:01Z",
           "payload": {"groupId": gid, "name": group["name"], "rank": group["rank"] % 10 + 1}}
    value = json.dumps(doc).encode()
    last = Message(UPDATES, entity_key(doc), value, verdict(value, UPDATES),
                   messages[-1].timestamp_ms + 1)
    return [*messages, last]


class Simulation:
    def __init__(self, records: Sequence[Record], bug: str | None = None, seed: int = 1):
        assert bug is None or bug in BUGS, bug
        self.records, self.bug, self.rnd = records, bug, random.Random(seed)
        self.model = Model()
        self.answers: list[Answer] = []
        self.letters: list[Doc] = []
        self.received: dict[tuple[Any, Any], float] = {}
        self.logged_at: dict[str, float] = {}
        self.done = 0  # messages processed so far
        self.cache: set[str] = set()  # the stale group cache's ids
        self.releases: list[tuple[int, tuple[int, str], str]] = []  # (due, name, group)
        self.seen_values: set[bytes | None] = set()
        self.dropped = False

    def run(self) -> tuple[list[Record], list[Answer], list[Doc], Stored,
                           dict[tuple[Any, Any], float]]:
        queues: dict[tuple[str, int], deque[Record]] = {}
        published, now = 0, self.records[0].timestamp_ms / 1000
        while published < len(self.records) or any(queues.values()):
            while published < len(self.records) and \
                    self.records[published].timestamp_ms / 1000 <= now:
                r = self.records[published]
                queues.setdefault((r.topic, r.partition), deque()).append(r)
                published += 1
            ready = [q for q in queues.values() if q]
            if not ready:
                now = self.records[published].timestamp_ms / 1000
                continue
            queue = self.rnd.choice(ready)
            batch = [queue.popleft() for _ in range(min(len(queue), self.rnd.randint(1, 20)))]
            now += self.rnd.uniform(0.002, 0.03)
            if self.rnd.random() < 0.02:
                now += self.rnd.uniform(0.5, 3.0)  # a stall: the queues fill meanwhile
            if self.bug == "claims_out_of_order" and len(batch) > 1 and batch[0].topic == CLAIMS:
                batch[0], batch[1] = batch[1], batch[0]
            for r in batch:
                self._process(r, now)
        return list(self.records), self.answers, self.letters, self._stored(), self.received

    def _process(self, r: Record, now: float) -> None:
        self.done += 1
        self._release_due()
        if self.done % STALE_AFTER == 0:
            self.cache = set(self.model.groups)
        kind = verdict(r.value, r.topic)
        if kind == "unreadable":
            self.letters.append({"topic": f"p.{r.topic}.v1", "partition": r.partition,
                                 "offset": r.offset})
            return
        if self.bug == "lost_command" and not self.dropped and r.topic == UPDATES \
                and self.done > len(self.records) // 2:
            self.dropped = True
            return
        event = self._decide(r, kind)
        key = (event["orgId"], event["commandId"])
        if kind == "valid":
            self.logged_at.setdefault("{}:{}".format(*key), now)
        self.answers.append(Answer(zlib.crc32(r.key or b"") % PARTITIONS, len(self.answers),
                                   event, int(now * 1000)))
        self.received.setdefault(key, now + self.rnd.uniform(0.001, 0.02))

    def _decide(self, r: Record, kind: str) -> Doc:
        at = r.timestamp_ms / 1000
        again = r.value in self.seen_values
        self.seen_values.add(r.value)
        if kind != "valid":
            return self._mislabel(self.model.apply_raw(r.value, at, r.topic), 732, 733)
        command = read(r.value)
        if again and ((self.bug == "claims_decided_again" and r.topic == CLAIMS)
                      or (self.bug == "create_applied_twice" and r.topic == CREATES)):
            return self._decide_again(command, at, r.topic)
        if r.topic == UPDATES and self.bug in ("stale_group_read", "lost_rank_only_update",
                                               "lazy_name_release", "leaked_reservation"):
            return self._update(command, at)
        event = self.model.apply(command, at, r.topic)
        return self._mislabel(event, 733, 732)

    def _update(self, command: Doc, at: float) -> Doc:
        key = (command["orgId"], command["commandId"])
        gid = str(command["payload"]["groupId"]).lower()
        if key in self.model.answers:
            return self.model.answers[key]
        group = self.model.groups.get(gid)
        if self.bug == "stale_group_read" and group is not None and gid not in self.cache:
            self.model.answers[key] = Model().apply(command, at)  # "not found", as cached
            return self.model.answers[key]
        before = copy.deepcopy(group)
        event = self.model.apply(command, at)
        if before is None or event["errors"]:
            return event
        org, old = command["orgId"], before["name"]
        if self.bug == "lost_rank_only_update" and old == command["payload"]["name"]:
            self.model.groups[gid] = before  # answered, never stored
        elif old != command["payload"]["name"] and self.bug in ("lazy_name_release",
                                                                "leaked_reservation"):
            self.model.names[(org, old)] = gid  # the old name stays held
            if self.bug == "lazy_name_release":
                self.releases.append((self.done + LATE_RELEASE, (org, old), gid))
        return event

    def _release_due(self) -> None:
        while self.releases and self.releases[0][0] <= self.done:
            _, name, gid = self.releases.pop(0)
            if self.model.names.get(name) == gid and self.model.groups[gid]["name"] != name[1]:
                del self.model.names[name]

    def _decide_again(self, command: Doc, at: float, topic: str) -> Doc:
        """A redelivery decided as a new command: what deduplication prevents."""
        original = command["commandId"]
        command["commandId"] = "00000000-0000-4000-8000-" + original[-12:]
        event = dict(self.model.apply(command, at, topic))
        event["commandId"] = original
        return event

    def _mislabel(self, event: Doc | None, due: int, said: int) -> Doc:
        """The bugs that answer one code where another is due."""
        assert event is not None
        wrong = {"code_733_for_732": (732, 733), "code_732_for_733": (733, 732)}.get(
            self.bug or "")
        if wrong != (due, said) or not any(e["code"] == due for e in event["errors"] or []):
            return event
        changed = copy.deepcopy(event)
        changed["errors"] = [dict(e, code=said) if e["code"] == due else e
                             for e in changed["errors"]]
        return changed

    def _stored(self) -> Stored:
        m = self.model
        return Stored(claims={k: dict(v) for k, v in m.claims.items()},
                      groups={k: dict(v) for k, v in m.groups.items()},
                      names=dict(m.names), log_ids=[f"{o}:{c}" for o, c in m.answers],
                      logged_at=dict(self.logged_at))
