"""The FerretDB patch set (deploy/ferretdb/patches/) does what its README says, and no more.

1. Every statement the store makes FerretDB run against a collection finds its rows through
   the unique _id index (patch 0001): checked with SQLite's own EXPLAIN QUERY PLAN on the
   server's database file, for the statements FerretDB logged while the real handler ran
   batches of every command kind.
2. The patched server answers a randomized sequence of operations exactly as the stock
   one does (same documents, counts and error codes), including the filter shapes the patch
   now pushes down and the ones it must leave alone; and a bulk of 100+ upserts that match
   existing documents, which the stock build never answers (patch 0002), completes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId, json_util
from pymongo import AsyncMongoClient, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, OperationFailure
from testcontainers.core.container import DockerContainer

from badges_schemas import parse
from service.store.gateway_reads import GatewayStore
from service.store.mongo import Store
from service.worker.handler import Incoming, Origin, handle_batch
from tests.infra.containers import (
    LABELS,
    free_port,
    image_from_env,
    publish_on_loopback,
    started,
    wait_for_mongo,
)

pytestmark = [
    pytest.mark.integration,
    # Under Docker the stack runs the official mongo image unless BADGES_BUILD_IMAGES=1
    # builds these; with podman (this project's CI) they are always built.
    pytest.mark.skipif(
        not os.environ.get("BADGES_FERRETDB_STOCK_IMAGE"),
        reason="FerretDB images not built (Docker path: set BADGES_BUILD_IMAGES=1)",
    ),
]

Doc = dict[str, Any]
PATCHED = "BADGES_MONGO_IMAGE"
STOCK = "BADGES_FERRETDB_STOCK_IMAGE"
CLIENT_TIMEOUT_MS = 10_000  # a server that stops answering fails the test instead of hanging it


@contextmanager
def ferretdb(image_variable: str, state_dir: Path | None = None, log_sql: bool = False
             ) -> Iterator[tuple[str, DockerContainer]]:
    """A FerretDB container on a free loopback port; yields (mongodb URL, container)."""
    container = DockerContainer(image_from_env(image_variable), labels=LABELS)
    publish_on_loopback(container, 27017, free_port())
    if state_dir is not None:
        # The image keeps one SQLite file per database in /state: here, readable from the host.
        container.with_volume_mapping(str(state_dir), "/state", "rw")
    if log_sql:
        # Debug level logs every SQL statement with its arguments (internal/util/fsql).
        container.with_env("FERRETDB_LOG_LEVEL", "debug")
        container.with_env("FERRETDB_LOG_FORMAT", "json")
    with started(container, f"FerretDB ({image_variable})"):
        url = f"mongodb://127.0.0.1:{container.get_exposed_port(27017)}"
        wait_for_mongo(url)
        yield url, container


# ---------------------------------------------------------------------------------------
# 1. The store's statements use the _id index
# ---------------------------------------------------------------------------------------

ORG = 41
ACTOR = 7
DATABASE = "plans"
ID_EXPRESSION = re.compile(r"""_ferretdb_sjson\s*->\s*(?:"_id"|'\$\._id')""")
VERB = re.compile(r"^\s*(SELECT|UPDATE|DELETE)\b", re.IGNORECASE)
TABLE = re.compile(r'\b(?:FROM|UPDATE)\s+"([^"]+)"', re.IGNORECASE)
WHERE = re.compile(r"\bWHERE\b(.*)$", re.IGNORECASE | re.DOTALL)
# FerretDB's own bookkeeping, not collection data.
INTERNAL = re.compile(r"^_ferretdb_|^sqlite_|\bsqlite_master\b|\bdbstat\b|^\s*PRAGMA", re.I)


@dataclass(frozen=True)
class Statement:
    sql: str
    args: tuple[Any, ...]
    table: str


def command(kind: str, payload: Doc) -> bytes:
    return json.dumps({"commandId": str(uuid.uuid4()), "type": kind,
                       "orgId": ORG, "actorId": ACTOR, "payload": payload}).encode()


def claim(badge: str, kind: str = "ClaimBadge") -> bytes:
    return command(kind, {"badgeId": badge, "ownerType": "Loyalty", "referenceId": "r1"})


def unclaim(badge: str) -> bytes:
    return claim(badge, "UnclaimBadge")


def create_group(name: str, rank: int) -> bytes:
    return command("CreateBadgeGroup", {"name": name, "rank": rank})


def update_group(group_id: str, name: str, rank: int) -> bytes:
    return command("UpdateBadgeGroup", {"groupId": group_id, "name": name, "rank": rank})


class Driver:
    """Runs raw commands through the worker's batch pipeline (no Kafka), as the worker does."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.offsets = itertools.count()

    def incoming(self, raw: bytes) -> Incoming:
        origin = Origin("commands", 0, next(self.offsets), time.time())
        return Incoming(parse(raw), b"key", raw, origin)

    async def run(self, raws: list[bytes]) -> list[Doc]:
        """One batch; the result events, in the order of the commands."""
        out = await handle_batch([self.incoming(raw) for raw in raws], self.store)
        assert not any(o.dead_letter for o in out), [o.value for o in out if o.dead_letter]
        return [json.loads(o.value) for o in out]


def codes(result: Doc) -> list[int]:
    return [p["code"] for p in result["errors"] + result["warnings"]]


async def drive_store(url: str) -> None:
    """Seed a few hundred documents through the store, then run every command kind.

    The checks on the answers only make sure each store path really ran (a re-claim that
    did not warn would mean the claim was never read, and its statement never logged).
    """
    client: AsyncMongoClient[Doc] = AsyncMongoClient(url, timeoutMS=CLIENT_TIMEOUT_MS * 3,
                                                     tz_aware=True)
    try:
        store = Store(client[DATABASE])
        await store.ensure_indexes()
        driver = Driver(store)
        badges = [str(ObjectId()) for _ in range(300)]
        seeded = [claim(b) for b in badges]
        first_answers: list[Doc] = []
        for start in range(0, len(seeded), 100):
            first_answers += await driver.run(seeded[start:start + 100])
        created = await driver.run([create_group(f"G{i}", i) for i in range(30)])
        assert all(r["errors"] == [] for r in first_answers + created)
        groups = [r["data"]["id"] for r in created]

        replayed = [0, 1, 2, 3, 4, 150, 151, 152, 153, 154]
        mixed = ([claim(str(ObjectId())) for _ in range(20)]          # new claims
                 + [claim(b) for b in badges[:10]]                     # already active
                 + [unclaim(b) for b in badges[200:215]]               # existing claims
                 + [unclaim(str(ObjectId())) for _ in range(3)]       # never claimed
                 + [create_group(f"NEW{i}", 100 + i) for i in range(5)]
                 + [create_group("G3", 3)]                             # name taken
                 + [update_group(g, f"RENAMED{i}", i) for i, g in enumerate(groups[10:16])]
                 + [update_group(g, f"G{20 + i}", 50) for i, g in enumerate(groups[20:23])]
                 + [seeded[i] for i in replayed])                      # logged already
        answers = await driver.run(mixed)
        assert [codes(a) for a in answers[20:30]] == [[9100]] * 10
        assert [codes(a) for a in answers[30:45]] == [[]] * 15
        assert [codes(a) for a in answers[45:48]] == [[737]] * 3
        assert [codes(a) for a in answers[48:54]] == [[]] * 5 + [[733]]
        assert [a["data"]["name"] for a in answers[54:63]] == \
            [f"RENAMED{i}" for i in range(6)] + ["G20", "G21", "G22"]
        assert answers[63:] == [first_answers[i] for i in replayed]

        # Claims again after their unclaim (updates back to active), and part of the mixed
        # batch redelivered: answered from the log, identically.
        again = await driver.run([claim(b) for b in badges[200:205]] + mixed[:10])
        assert [codes(a) for a in again[:5]] == [[]] * 5
        assert again[5:] == answers[:10]

        # The gateway's listing of the org's groups, page by page (an _id range, then $in).
        reads, listed, after = GatewayStore(client[DATABASE]), [], None
        while True:
            page = await reads.groups_page(ORG, after, 8, include_inactive=False)
            listed += [g.id for g in page.groups]
            if (after := page.next_after) is None:
                break
        assert listed == sorted(groups + [r["data"]["id"] for r in answers[48:53]])
    finally:
        await client.close()


def logged_statements(container: DockerContainer) -> list[Statement]:
    """Distinct SELECT/UPDATE/DELETE statements FerretDB ran on non-internal tables."""
    _, stderr = container.get_logs()
    found: dict[str, Statement] = {}
    unreadable = []
    for line in stderr.decode().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if ">>>" in line:
                unreadable.append(line)
            continue
        message = entry.get("msg", "")
        if not message.startswith(">>> "):
            continue
        sql = message[4:]
        found_table = TABLE.search(sql)
        # No quoted table name: kept (and reported as of no known collection), not skipped.
        table = found_table.group(1) if found_table else ""
        if not VERB.match(sql) or INTERNAL.search(table) or INTERNAL.search(sql):
            continue
        found.setdefault(sql, Statement(sql, tuple(entry.get("args") or ()), table))
    # A statement this parser cannot read would be skipped unseen: show it instead.
    assert not unreadable, "log lines with SQL that are not JSON:\n" + "\n".join(unreadable)
    return list(found.values())


def collection_tables(state_dir: Path) -> dict[str, tuple[Path, str]]:
    """table name -> (the database's SQLite file, the collection's name)."""
    tables = {}
    for path in state_dir.glob("*.sqlite"):
        with closing(open_read_only(path)) as db:
            for table, name in db.execute("SELECT table_name, name FROM _ferretdb_collections"):
                tables[table] = (path, name)
    return tables


def open_read_only(path: Path) -> sqlite3.Connection:
    # Read-only: FerretDB is still running on this file (WAL mode lets both read it).
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def query_plan(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[str]:
    """EXPLAIN QUERY PLAN details; the logged arguments if they fit, else NULLs (same plan)."""
    wanted = sql.count("?")
    scalar = all(a is None or isinstance(a, str | int | float) for a in args)
    bound = list(args) if len(args) == wanted and scalar else [None] * wanted
    return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", bound)]


def plan_problem(table: str, plan: list[str]) -> str | None:
    """Why this plan does not look the rows up through an index; None when it does."""
    name = re.escape(table)
    if any(re.match(rf"SCAN {name}\b", line) for line in plan):
        return "reads the whole table"
    searched = rf"SEARCH {name} USING (?:(?:COVERING )?INDEX|(?:INTEGER )?PRIMARY KEY)"
    if not any(re.match(searched, line) for line in plan):
        return "no index search"
    return None


def index_problems(statements: list[Statement], tables: dict[str, tuple[Path, str]]
                   ) -> list[str]:
    """One report per statement that does not find its rows by the _id index."""
    problems = []
    for statement in statements:
        if statement.table not in tables:
            problems.append(report("table of no known collection", "?", statement, []))
            continue
        path, collection = tables[statement.table]
        with closing(open_read_only(path)) as db:
            plan = query_plan(db, statement.sql, statement.args)
        where = WHERE.search(statement.sql)
        if where is None:
            reason = "no WHERE at all"  # the store should never list a whole collection
        elif not ID_EXPRESSION.search(where.group(1)):
            reason = "WHERE not on _id"
        else:
            reason = plan_problem(statement.table, plan)
        if reason is not None:
            problems.append(report(reason, collection, statement, plan))
    return problems


def report(reason: str, collection: str, statement: Statement, plan: list[str]) -> str:
    args = [repr(a)[:60] for a in statement.args[:4]]
    return f"{reason} ({collection}): {statement.sql}\n    args {args}\n    plan {plan}"


def test_store_statements_find_rows_through_the_id_index(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    with ferretdb(PATCHED, state_dir, log_sql=True) as (url, container):
        asyncio.run(drive_store(url))
        statements = logged_statements(container)
        tables = collection_tables(state_dir)

        # Not vacuous: the statements the patch is about were all made and all checked.
        assert statements, "FerretDB logged no statement on a collection table"
        texts = [s.sql for s in statements]
        assert any(t.startswith("SELECT") and " IN (" in t for t in texts), texts
        assert any(t.startswith("SELECT") and " < ?" in t for t in texts), texts  # a range
        assert any(t.startswith("UPDATE") for t in texts), texts
        assert any(t.startswith("DELETE") for t in texts), texts

        problems = index_problems(statements, tables)
        assert not problems, (f"{len(problems)} of {len(statements)} distinct statements do "
                              "not use the _id index:\n" + "\n".join(problems))

        # Control: the stock build's pushdown text, on the same file, is seen as a scan
        # (so the check above can tell a scan from a search).
        claims_table = next(t for t, (_, name) in tables.items() if name == "badge_claims")
        path, _ = tables[claims_table]
        stock_shape = (f'SELECT _ferretdb_sjson FROM "{claims_table}" '
                       "WHERE _ferretdb_sjson->'$._id' = ?")
        with closing(open_read_only(path)) as db:
            plan = query_plan(db, stock_shape, ())
        assert plan_problem(claims_table, plan) == "reads the whole table", plan
        assert index_problems([Statement(stock_shape, (), claims_table)], tables), plan


# ---------------------------------------------------------------------------------------
# 2. Same answers from the stock and the patched server
# ---------------------------------------------------------------------------------------

OPERATIONS = 500
BULK_SIZE = 125            # upserts in one bulk_write: 100+ of them match existing documents
BULK_MATCHING = 110
STOCK_BULK_CHUNK = 50      # what the stock build answers (it hangs from about 70 matches)
# Suffixes that JSON encoders escape differently (Go escapes <, >, & and U+2028).
ODD_SUFFIXES = ["", "", "", "<b>", "&", "'", '"', "\\", "é", "\u2028", "😀", " x", "$", ".", "/"]


@dataclass(frozen=True)
class Op:
    text: str                                # how a failure message names the operation
    call: Callable[[Collection[Doc]], object]  # runs it, returns a comparable outcome


class Bulk:
    """Marker: the large upsert bulk, built from the documents present when it runs."""


def canonical(doc: Doc) -> str:
    # Canonical extended JSON keeps int32, int64 and double apart; sorted keys make field
    # order irrelevant, and sorting these strings makes document order irrelevant.
    return json_util.dumps(doc, sort_keys=True, json_options=json_util.CANONICAL_JSON_OPTIONS)


def documents(found: Any) -> tuple[str, list[str]]:
    return "docs", sorted(canonical(d) for d in found)


def updated(result: Any) -> tuple[object, ...]:
    return "updated", result.matched_count, result.modified_count, result.upserted_id


class RandomOps:
    """A random sequence of operations; the same seed gives the same operations."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        oids = [ObjectId(rng.randbytes(12)) for _ in range(100)]
        strings = [f"s{i}{rng.choice(ODD_SUFFIXES)}" for i in range(100)]
        ints = [rng.choice([i, -i, 2**40 + i]) for i in range(1, 31)]  # int32 and int64
        # Strings equal to an ObjectId's hex: FerretDB stores both as the same JSON text.
        twins = [str(o) for o in rng.sample(oids, 4)]
        self.ids: list[Any] = strings + oids + ints + twins
        self.pushable: list[Any] = strings + oids + twins  # the types the patch pushes down
        # Never inserted nor upserted: lookups of ids that do not exist (ints last).
        self.ghosts: list[Any] = (["ghost", "s0<", "S1"] + [ObjectId(rng.randbytes(12))
                                  for _ in range(5)] + [-(10**6), 10**13])

    # -- building blocks --------------------------------------------------------------

    def doc(self, id_: Any) -> Doc:
        return {"_id": id_, "f": self.rng.randrange(3), "g": self.rng.choice("abc"),
                "n": self.rng.randrange(100)}

    def some_id(self, stored_only: bool = False) -> Any:
        """An id that may be stored; one of the ghosts now and then, unless stored_only."""
        if stored_only or self.rng.random() < 0.9:
            return self.rng.choice(self.ids)
        return self.rng.choice(self.ghosts)

    def id_list(self, one_match_at_most: bool = False) -> list[Any]:
        """An $in list: existing and missing ids, sometimes repeated, sometimes mixed types."""
        if one_match_at_most:  # one stored id among ghosts: which document matches is fixed
            ids = [self.rng.choice(self.ids), *self.rng.sample(self.ghosts, 2)]
        else:
            # Half of them without ints, which would keep the whole $in from being pushed down.
            pool = self.ids if self.rng.random() < 0.5 else self.pushable
            ids = self.rng.sample(pool, self.rng.randrange(0, 12)) + \
                self.rng.sample(self.ghosts[:8], self.rng.randrange(0, 3))
            if ids and self.rng.random() < 0.2:
                ids.append(ids[0])
        self.rng.shuffle(ids)
        return ids

    def id_range(self, narrow: bool = False) -> Doc:
        """A string range (patch 0004 pushes it down): bounds that are stored ids, their
        prefixes, or texts beside them, odd suffixes and all; a lower bound alone at times.
        `narrow`: both bounds near one id (a delete must not empty the collection)."""
        near = str(self.rng.choice(self.pushable))

        def bound() -> str:
            text = near if narrow else str(self.rng.choice(self.pushable))
            cut = text[:self.rng.randrange(len(text) // 2 if narrow else 0, len(text) + 1)]
            return self.rng.choice([text, cut, cut + self.rng.choice(ODD_SUFFIXES)])
        lo, hi = sorted([bound(), bound()]) if self.rng.random() < 0.8 else (bound(), bound())
        if narrow:
            return {"$gte": lo, "$lte": hi}
        condition = {self.rng.choice(["$gt", "$gte"]): lo}
        if self.rng.random() < 0.8:
            condition[self.rng.choice(["$lt", "$lte"])] = hi
        return condition

    def id_filter(self, upsert: bool = False) -> Doc:
        """{_id}, {_id, f}: at most one match, so *_one operations are deterministic.

        An upsert may insert its _id: never a ghost's, so ghosts stay missing.
        """
        id_ = self.some_id(stored_only=upsert)
        if self.rng.random() < 0.6:
            return {"_id": id_}
        return {"_id": id_, "f": self.rng.randrange(3)}

    def many_filter(self, by_id_only: bool = False, narrow: bool = False) -> Doc:
        """Filters that may match many documents: by _id (pushed down or not), or not."""
        f = self.rng.randrange(3)
        shapes: list[Doc] = [
            {"_id": {"$in": self.id_list()}},
            {"_id": {"$in": self.id_list()}, "f": f},
            {"_id": self.id_range(narrow)},
            {"_id": self.id_range(narrow), "f": f},
            {"$or": [{"_id": self.some_id(), "f": f}, {"_id": self.some_id()}]},
        ]
        if not by_id_only:
            shapes += [{"f": f},
                       {"g": {"$in": ["a", "b"]}, "n": {"$gte": self.rng.randrange(100)}}]
        return self.rng.choice(shapes)

    def change(self) -> Doc:
        return self.rng.choice([{"$set": {"g": self.rng.choice("abcd")}},
                                {"$inc": {"n": 1}},
                                {"$set": {"f": self.rng.randrange(3), "h": True}}])

    # -- operations -------------------------------------------------------------------

    def seed(self) -> Op:
        docs = [self.doc(i) for i in self.rng.sample(self.ids[:-4], 180)]  # no twins yet
        return Op(f"insert_many({len(docs)} docs)",
                  lambda c: ("inserted", c.insert_many([dict(d) for d in docs]).inserted_ids))

    def insert_one(self) -> Op:
        doc = self.doc(self.rng.choice(self.ids))
        return Op(f"insert_one({doc})", lambda c: ("inserted", c.insert_one(dict(doc)).inserted_id))

    def insert_many(self) -> Op:
        docs = [self.doc(self.rng.choice(self.ids)) for _ in range(self.rng.randrange(1, 8))]
        ordered = self.rng.random() < 0.5
        return Op(f"insert_many({docs}, ordered={ordered})",
                  lambda c: ("inserted", c.insert_many([dict(d) for d in docs],
                                                       ordered=ordered).inserted_ids))

    def find(self) -> Op:
        query = self.rng.choice([self.id_filter(), self.many_filter(),
                                 {"_id": {"$in": self.id_list()}}])
        return Op(f"find({query})", lambda c: documents(c.find(query)))

    def find_one(self) -> Op:
        query = self.rng.choice([self.id_filter(),
                                 {"_id": {"$in": self.id_list(one_match_at_most=True)}}])
        return Op(f"find_one({query})", lambda c: ("doc", c.find_one(query)))

    def count(self) -> Op:
        query = self.rng.choice([self.id_filter(), self.many_filter()])
        return Op(f"count_documents({query})", lambda c: ("count", c.count_documents(query)))

    def distinct(self) -> Op:
        query = self.rng.choice([self.id_filter(), self.many_filter()])
        return Op(f"distinct('g', {query})", lambda c: ("values", sorted(c.distinct("g", query))))

    def find_one_and_modify(self) -> Op:
        """findAndModify: its own pushdown path in FerretDB."""
        if self.rng.random() < 0.3:
            query = self.id_filter()
            return Op(f"find_one_and_delete({query})",
                      lambda c: ("doc", c.find_one_and_delete(query)))
        upsert = self.rng.random() < 0.5
        query, change = self.id_filter(upsert), self.change()
        return Op(f"find_one_and_update({query}, {change}, upsert={upsert})",
                  lambda c: ("doc", c.find_one_and_update(query, change, upsert=upsert,
                                                          return_document=True)))

    def update_one(self) -> Op:
        upsert = self.rng.random() < 0.5
        query, change = self.id_filter(upsert), self.change()
        if self.rng.random() < 0.2:  # no upsert with $in: the new document's _id would differ
            query, upsert = {"_id": {"$in": self.id_list(one_match_at_most=True)}}, False
        return Op(f"update_one({query}, {change}, upsert={upsert})",
                  lambda c: updated(c.update_one(query, change, upsert=upsert)))

    def update_many(self) -> Op:
        # Mostly by ids: every document updated is one more statement, a scan each on stock.
        query, change = self.many_filter(by_id_only=self.rng.random() < 0.85), self.change()
        return Op(f"update_many({query}, {change})",
                  lambda c: updated(c.update_many(query, change)))

    def replace_one(self) -> Op:
        upsert = self.rng.random() < 0.5
        query = self.id_filter(upsert)
        replacement = {"f": self.rng.randrange(3), "g": "r", "n": self.rng.randrange(100)}
        if not upsert and self.rng.random() < 0.1:  # changing _id is refused: compare the code
            replacement["_id"] = self.some_id(stored_only=True)
        return Op(f"replace_one({query}, {replacement}, upsert={upsert})",
                  lambda c: updated(c.replace_one(query, replacement, upsert=upsert)))

    def delete_one(self) -> Op:
        query = self.rng.choice([self.id_filter(),
                                 {"_id": {"$in": self.id_list(one_match_at_most=True)}}])
        return Op(f"delete_one({query})", lambda c: ("deleted", c.delete_one(query).deleted_count))

    def delete_many(self) -> Op:
        # By ids only, and narrow ranges: a filter like {f: 1} would empty the collection
        # before the bulks.
        query = self.many_filter(by_id_only=True, narrow=True)
        return Op(f"delete_many({query})",
                  lambda c: ("deleted", c.delete_many(query).deleted_count))

    def operations(self, count: int) -> list[Op | Bulk]:
        kinds: dict[Callable[[], Op], int] = {
            self.insert_one: 8, self.insert_many: 4, self.find: 14, self.find_one: 6,
            self.count: 5, self.update_one: 14, self.update_many: 5, self.replace_one: 6,
            self.delete_one: 4, self.delete_many: 2, self.distinct: 2,
            self.find_one_and_modify: 4,
        }
        makers = self.rng.choices(list(kinds), weights=list(kinds.values()), k=count)
        ops: list[Op | Bulk] = [self.seed()] + [make() for make in makers]
        # Twice, at fixed points, so the hang would show whatever the random mix.
        ops.insert(count // 3, Bulk())
        ops.insert(2 * count // 3, Bulk())
        return ops


def outcome(op: Op, collection: Collection[Doc]) -> object:
    """The operation's answer, or its error as a comparable value; timeouts still raise."""
    try:
        return op.call(collection)
    except BulkWriteError as exc:
        if exc.timeout:
            raise
        d = exc.details
        counts = tuple(d.get(n) for n in ("nInserted", "nMatched", "nModified", "nUpserted"))
        return "bulk error", counts, [(e["index"], e["code"]) for e in d["writeErrors"]]
    except OperationFailure as exc:
        if exc.timeout:
            raise
        return "error", exc.code


def contents(collection: Collection[Doc]) -> list[str]:
    return documents(collection.find())[1]


@dataclass(frozen=True)
class BulkPlan:
    ops: list[UpdateOne]
    expected: list[str]   # the collection afterwards, computed here (what MongoDB would do)
    new_ids: list[str]    # the upserted _ids, canonical and sorted


def plan_bulk(rng: random.Random, present: list[Doc], ids: list[Any], round_: int) -> BulkPlan:
    """BULK_SIZE upserts by _id, BULK_MATCHING of them on existing documents."""
    assert len(present) >= BULK_MATCHING, f"only {len(present)} documents to update"
    matching = rng.sample(present, BULK_MATCHING)
    # New ids whose JSON text is not taken, by a document or by another new id: an ObjectId
    # and its hex string collide here (the unique index is on the JSON text).
    taken = {str(d["_id"]) for d in present}
    new_ids = []
    for candidate in rng.sample(ids, len(ids)):
        if len(new_ids) < BULK_SIZE - BULK_MATCHING and str(candidate) not in taken:
            new_ids.append(candidate)
            taken.add(str(candidate))
    assert len(new_ids) == BULK_SIZE - BULK_MATCHING, f"only {len(new_ids)} ids left to insert"
    targets = [d["_id"] for d in matching] + new_ids
    rng.shuffle(targets)
    after = {canonical({"_id": d["_id"]}): dict(d) for d in present}
    ops = []
    for number, id_ in enumerate(targets):
        value = round_ * 1000 + number  # new in every document: each match is a modification
        ops.append(UpdateOne({"_id": id_}, {"$set": {"bulk": value}}, upsert=True))
        after.setdefault(canonical({"_id": id_}), {"_id": id_})["bulk"] = value
    return BulkPlan(ops, sorted(canonical(d) for d in after.values()),
                    sorted(canonical({"_id": i}) for i in new_ids))


def bulk_summary(results: list[Any]) -> tuple[int, int, list[str]]:
    """(matched, modified, upserted _ids). Upserted ids, not their indexes: FerretDB numbers
    upserts 0, 1, 2... instead of by their operation's index (both builds), so one bulk and
    the same operations in chunks report different indexes."""
    matched = sum(r.matched_count for r in results)
    modified = sum(r.modified_count for r in results)
    upserted = sorted(canonical({"_id": i}) for r in results for i in r.upserted_ids.values())
    return matched, modified, upserted


def run_bulk(stock: Collection[Doc], patched: Collection[Doc], rng: random.Random,
             ids: list[Any], round_: int, where: str) -> None:
    """One bulk_write on the patched server (stock hangs on it), in chunks on stock."""
    before = contents(patched)
    assert contents(stock) == before, f"{where}: contents differ before the bulk"
    plan = plan_bulk(rng, [json_util.loads(d) for d in before], ids, round_)
    try:
        patched_result = bulk_summary([patched.bulk_write(plan.ops, ordered=False)])
    except Exception as exc:  # also a reply PyMongo cannot read (KeyError)
        pytest.fail(f"{where}: bulk_write of {len(plan.ops)} upserts ({BULK_MATCHING} on "
                    f"existing documents) failed on the patched server (patch 0002?): {exc!r}")
    assert patched_result == (BULK_MATCHING, BULK_MATCHING, plan.new_ids), \
        f"{where}: bulk on the patched server: {patched_result}"
    assert contents(patched) == plan.expected, \
        f"{where}: the patched server's documents after the bulk are not the expected ones"
    chunks = [stock.bulk_write(plan.ops[i:i + STOCK_BULK_CHUNK], ordered=False)
              for i in range(0, len(plan.ops), STOCK_BULK_CHUNK)]
    assert bulk_summary(chunks) == patched_result, f"{where}: bulk in chunks on stock"


def test_patched_server_answers_like_the_stock_one() -> None:
    seed = int(os.environ.get("BADGES_FERRETDB_DIFF_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    sequence = RandomOps(rng)
    ops = sequence.operations(OPERATIONS)
    seen: Counter[str] = Counter()
    with ferretdb(STOCK) as (stock_url, _), ferretdb(PATCHED) as (patched_url, _), \
            MongoClient(stock_url, timeoutMS=CLIENT_TIMEOUT_MS) as stock_client, \
            MongoClient(patched_url, timeoutMS=CLIENT_TIMEOUT_MS) as patched_client:
        stock, patched = stock_client.diff.docs, patched_client.diff.docs
        for number, op in enumerate(ops):
            where = f"seed {seed} (rerun: BADGES_FERRETDB_DIFF_SEED={seed}), operation {number}"
            if isinstance(op, Bulk):
                run_bulk(stock, patched, rng, sequence.ids, number, where)
                seen["bulk"] += 1
                continue
            try:
                expected, answer = outcome(op, stock), outcome(op, patched)
            except Exception as exc:  # a timeout, or a reply PyMongo cannot read
                pytest.fail(f"{where}: {op.text}: {exc!r}")
            assert answer == expected, f"{where}: {op.text}\n stock   {expected}\n patched {answer}"
            seen[describe(answer)] += 1
        assert contents(patched) == contents(stock), \
            f"seed {seed} (rerun: BADGES_FERRETDB_DIFF_SEED={seed}): final contents differ"
    # Not vacuous: the sequence reached the cases it is meant to compare.
    for case in ("docs: several", "docs: none", "error", "upserted", "updated", "deleted",
                 "bulk"):
        assert seen[case], f"seed {seed}: no operation gave {case!r}: {dict(seen)}"


def describe(answer: object) -> str:
    """A coarse class of an answer, to count which cases a sequence reached."""
    assert isinstance(answer, tuple)
    kind = answer[0]
    if kind == "docs":
        return "docs: several" if len(answer[1]) > 1 else "docs: none" if not answer[1] else kind
    if kind == "updated":
        return "upserted" if answer[3] is not None else "updated" if answer[1] else "no match"
    if kind == "deleted":
        return "deleted" if answer[1] else "no match"
    if kind in ("error", "bulk error"):
        return "error"
    return str(kind)
