"""Hypothesis strategies for command messages: valid commands on small pools, and JSON-ish junk."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from tests.chaos.model import issued_at, new_group_id

ORGS = (1, 2)
BADGES = ("6581281e8f68666070de15c5", "69381220cebb9648d8974518", "0123456789abcdefABCDEF01")
OWNERS = ("Loyalty", "Milestones")
REFS = ("123", "$ne", "a:b")
NAMES = ("Gold", "gold", "GROUP_RANK_2", "$gt")
CLAIMS, CREATES, UPDATES = "badge-claims", "create-badge-group", "update-badge-group"
OPERATORS = ({"$ne": None}, {"$gt": ""}, {"$where": "sleep(1)"}, {"$in": []})

command_ids = st.uuids(version=4).map(str)
times = st.floats(min_value=1.6e9, max_value=1.8e9, allow_nan=False).map(lambda t: round(t, 3))
issued = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
    .map(lambda d: d.isoformat(timespec="milliseconds") + "Z"),
)

# Every JSON value, nested a little, with the strings that stress a store.
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
              st.sampled_from(("$ne", "$where", "\x00", "\ud800", "a.b", "x" * 300))),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)


def _envelope(type_: str, payload: dict[str, Any], draw: st.DrawFn, cid: str) -> dict[str, Any]:
    doc = {"commandId": cid, "type": type_, "orgId": draw(st.sampled_from(ORGS)),
           "actorId": draw(st.integers(1, 3)), "payload": payload}
    when = draw(issued)
    if when is not None:
        doc["issuedAt"] = when
    return doc


@st.composite
def claim_commands(draw: st.DrawFn, cid: str | None = None) -> dict[str, Any]:
    payload = {"badgeId": draw(st.sampled_from(BADGES)), "ownerType": draw(st.sampled_from(OWNERS)),
               "referenceId": draw(st.sampled_from(REFS))}
    type_ = draw(st.sampled_from(("ClaimBadge", "UnclaimBadge")))
    return _envelope(type_, payload, draw, cid or draw(command_ids))


@st.composite
def create_commands(draw: st.DrawFn, cid: str | None = None) -> dict[str, Any]:
    payload = {"name": draw(st.sampled_from(NAMES)), "rank": draw(st.integers(-3, 3))}
    return _envelope("CreateBadgeGroup", payload, draw, cid or draw(command_ids))


@st.composite
def update_commands(draw: st.DrawFn, group_ids: list[str], cid: str | None = None
                    ) -> dict[str, Any]:
    gid = draw(st.sampled_from(group_ids)) if group_ids else "0" * 24
    payload = {"groupId": gid, "name": draw(st.sampled_from(NAMES)),
               "rank": draw(st.integers(-3, 3))}
    return _envelope("UpdateBadgeGroup", payload, draw, cid or draw(command_ids))


Message = tuple[str, bytes | None, bytes | None, float]  # topic suffix, key, value, at


@st.composite
def command_sequences(draw: st.DrawFn, max_size: int = 30) -> list[Message]:
    """Valid commands on shared pools, in one order, some sent again with the same bytes.

    Updates name groups that earlier creates of the sequence made (their ids follow from the
    documented derivation) or ids that exist nowhere.
    """
    out: list[Message] = []
    group_ids: list[str] = []
    for _ in range(draw(st.integers(1, max_size))):
        at = draw(times)
        if out and draw(st.integers(0, 9)) == 0:
            topic, key, value, _ = draw(st.sampled_from(out))
            out.append((topic, key, value, at))
            continue
        topic = draw(st.sampled_from((CLAIMS, CREATES, UPDATES)))
        if topic == CLAIMS:
            doc = draw(claim_commands())
        elif topic == CREATES:
            doc = draw(create_commands())
            moment = issued_at(doc.get("issuedAt"))
            group_ids.append(new_group_id(doc["orgId"], doc["commandId"],
                                          at if moment is None else moment))
        else:
            doc = draw(update_commands(group_ids))
        out.append((topic, str(uuid.uuid4()).encode(), json.dumps(doc).encode(), at))
    return out


@st.composite
def broken_documents(draw: st.DrawFn) -> bytes:
    """A command with fields replaced, removed or duplicated, as JSON text."""
    doc = draw(st.one_of(claim_commands(), create_commands(), update_commands([])))
    for _ in range(draw(st.integers(1, 3))):
        container = draw(st.sampled_from((doc, doc.get("payload"))))
        if not isinstance(container, dict) or not container:
            continue
        member = draw(st.sampled_from(sorted(container)))
        action = draw(st.sampled_from(("replace", "operator", "delete", "huge")))
        if action == "delete":
            del container[member]
        elif action == "operator":
            # A copy: the shared constant, once placed, could be picked as a container and
            # mutated, until some draw nests an operator inside itself.
            container[member] = copy.deepcopy(draw(st.sampled_from(OPERATORS)))
        elif action == "huge":
            container[member] = "x" * draw(st.sampled_from((257, 10_000, 200_000)))
        else:
            container[member] = draw(json_values)
    text = json.dumps(doc)
    if draw(st.booleans()):  # a member written twice: JSON parsers keep the last
        extra = json.dumps(draw(json_values))
        text = text[:-1] + f', "{draw(st.sampled_from(sorted(doc) or ["x"]))}": {extra}}}'
    return text.encode()
