"""A reference model of the badges service, written from the contract alone.

It imports nothing from `service/` or `schemas/`: plain dicts, and the rules of the Badges
API reference (shared/reference/badges-api.md) and schemas/README.md (commands, codes, results,
guarantees). Checkers fold the raw commands the producers published into it, in the order
the service must apply them, and compare what the service answered and stored with what
the model says.

Public API (what the chaos checker and the property tests use):

- `Model()`; `model.apply(command, at, topic=None) -> dict`: `command` is the JSON object a
  producer published (already decoded), `at` the Kafka record's timestamp in seconds (used
  when the command has no `issuedAt`), `topic` the command topic it came on (the suffix
  "badge-claims", "create-badge-group", "update-badge-group", or the full topic name; None
  accepts every type). Returns the result event the service publishes, as a dict:
  `{"commandId", "type", "orgId", "data", "errors", "warnings"}`. A repeat of a valid
  command (same orgId and commandId) returns the first answer and changes nothing.
  `model.copy()` is an independent copy (to try several orders of the same commands).
- `model.apply_raw(value, at, topic=None) -> dict | None`: the same from the message bytes;
  None when the message is unreadable (the service dead-letters it).
- State, as the service stores it (ObjectIds as lower-case hex strings):
  `model.claims`: claim `_id` ("<orgId>:<badgeId>:<ownerType>:<referenceId>") -> the
  `badge_claims` document; `model.groups`: group id -> the `badge_groups` document;
  `model.names`: (orgId, name) -> the id of the group holding it (`group_names`);
  `model.answers`: (orgId, commandId) -> the result event of each valid command.
- `verdict(value, topic=None) -> "valid" | "invalid" | "unreadable"` for raw bytes.
- `answers_match(expected, actual) -> bool`: compares a model answer with a published one.
  Messages of the service's own codes (9xxx) carry a detail from the validator; where the
  model cannot know its exact wording it gives the message up to the field name ("Malformed
  command: issuedAt: "), and a published message matches if it starts with that.
- `stored_form(doc)`: a document read from MongoDB with its ObjectIds as hex strings, to
  compare with the model's views.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

OWNER_TYPES = frozenset({
    "Loyalty", "Loyalty_Promotion", "Referral_Campaigns", "Journeys", "Audience_Campaigns",
    "Rewards_Catalog", "Goodwill_Module", "Milestones", "Historical_Import",
})
MAX_TEXT = 256  # referenceId and name: 1 to 256 characters
INT64 = (-(2**63), 2**63 - 1)  # what MongoDB can store as an integer
# issuedAt must fit the 4-byte seconds of the group id the create derives from it.
ISSUED_AT_RANGE = (0, 2**32)
MAX_ECHO = 256  # longest `type` echoed back in a rejection

TOPIC_TYPES = {
    "badge-claims": frozenset({"ClaimBadge", "UnclaimBadge"}),
    "create-badge-group": frozenset({"CreateBadgeGroup"}),
    "update-badge-group": frozenset({"UpdateBadgeGroup"}),
}
TYPES = frozenset().union(*TOPIC_TYPES.values())

MESSAGES = {
    400: "Invalid enum value",
    717: "OwnerId is mandatory",
    732: "Group Rank is Mandatory.",
    733: "Group Name should be Unique.",
    737: "Claim not found in existing claims",
    9000: "Malformed command",
    9001: "Unknown command type",
    9002: "Badge id must be a 24-hex-digit ObjectId",
    9003: "Group id must be a 24-hex-digit ObjectId",
    9004: "Group not found",
    9005: "Invalid field value",
    9006: "Group Name is Mandatory.",
    9100: "Claim already active",
}
SERVICE_CODES = 9000  # codes from here on are the service's and carry a detail

# The validator's wording for the faults the model can name exactly.
REQUIRED = "Field required"
NOT_INT = "Input should be a valid integer"
NOT_STR = "Input should be a valid string"
NOT_DICT = "Input should be a valid dictionary"
TOO_LONG = f"String should have at most {MAX_TEXT} characters"
NOT_OBJECT_ID = "String should match pattern '^[0-9a-fA-F]{24}$'"
TOO_BIG = f"Input should be less than or equal to {INT64[1]}"
TOO_SMALL = f"Input should be greater than or equal to {INT64[0]}"

_HEX = "[0-9a-fA-F]"
_OBJECT_ID = re.compile(f"{_HEX}{{24}}")
# The UUID spellings the contract's parser accepts: hyphenated, 32 digits, braced, URN.
_UUID = re.compile(
    rf"(?:urn:uuid:)?({_HEX}{{8}})-({_HEX}{{4}})-({_HEX}{{4}})-({_HEX}{{4}})-({_HEX}{{12}})"
    rf"|\{{({_HEX}{{8}})-({_HEX}{{4}})-({_HEX}{{4}})-({_HEX}{{4}})-({_HEX}{{12}})\}}"
    rf"|({_HEX}{{32}})"
)
_MILLIS_ABOVE = 2e10  # a number above this is epoch milliseconds, below it seconds

Doc = dict[str, Any]


class RejectedError(Exception):
    """The command is valid JSON with a commandId but breaks the contract."""

    def __init__(self, event: Doc) -> None:
        super().__init__(event["errors"])
        self.event = event


class UnreadableError(Exception):
    """Not answerable: the service dead-letters the message."""


# -- reading ------------------------------------------------------------------------------


def read(value: bytes | None) -> Doc:
    """The message as a JSON object; UnreadableError if it has no usable commandId."""
    if value is None:
        raise UnreadableError("no value")
    try:
        document = json.loads(value)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, or nested too deep
        raise UnreadableError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise UnreadableError("not a JSON object")
    if canonical_uuid(document.get("commandId")) is None:
        raise UnreadableError("no usable commandId")
    return document


def verdict(value: bytes | None, topic: str | None = None) -> str:
    """"unreadable" (dead letter), "invalid" (error result) or "valid" (decided)."""
    try:
        validate(read(value), topic_suffix(topic))
    except UnreadableError:
        return "unreadable"
    except RejectedError:
        return "invalid"
    return "valid"


def topic_suffix(topic: str | None) -> str | None:
    """"badges.badge-claims.v1" or "badge-claims" -> "badge-claims"."""
    if topic is None:
        return None
    parts = topic.split(".")
    return parts[-2] if len(parts) >= 3 else topic


def canonical_uuid(value: object) -> str | None:
    if not _is_text(value):
        return None
    assert isinstance(value, str)
    match = _UUID.fullmatch(value)
    if match is None:
        return None
    digits = "".join(g for g in match.groups() if g).lower()
    return "-".join((digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:]))


def _is_text(value: object) -> bool:
    """A JSON string the contract can read: lone surrogates (from \\ud800 escapes) are not."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value: object) -> bool:
    return type(value) is int  # strict: true/false and 1.0 are not integers


def _int_fault(value: object) -> str | None:
    if not _is_int(value):
        return NOT_INT
    assert isinstance(value, int)
    if value > INT64[1]:
        return TOO_BIG
    if value < INT64[0]:
        return TOO_SMALL
    return None


def issued_at(value: object) -> float | None:
    """Seconds since the epoch of an issuedAt the contract accepts; ValueError otherwise.

    ISO 8601 (a time without an offset is UTC), or a number of seconds (milliseconds above
    2e10). The model knows these spellings; the generators produce only these.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a datetime")
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        value = float(value)
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > _MILLIS_ABOVE else float(value)
        moment = datetime.fromtimestamp(seconds, UTC)
    else:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    if not ISSUED_AT_RANGE[0] <= seconds < ISSUED_AT_RANGE[1]:
        raise ValueError("out of range")
    return seconds


# -- validation ---------------------------------------------------------------------------


def problem(code: int, detail: str | None = None) -> Doc:
    text = MESSAGES[code]
    if detail and code >= SERVICE_CODES:
        text = f"{text}: {detail}"
    return {"code": code, "message": text}


def _event(command_id: str, type_: str | None, org_id: int | None, data: Doc | None,
           errors: list[Doc], warnings: list[Doc] | None = None) -> Doc:
    return {"commandId": command_id, "type": type_, "orgId": org_id, "data": data,
            "errors": errors, "warnings": warnings or []}


def _echo_type(value: object) -> str | None:
    if _is_text(value) and len(str(value)) <= MAX_ECHO:
        return str(value)
    return None


def _envelope_faults(document: Doc) -> list[Doc]:
    faults: list[tuple[str, str]] = []
    if "type" not in document:
        faults.append(("type", REQUIRED))
    elif not isinstance(document["type"], str):  # any string: an unknown one is 9001
        faults.append(("type", NOT_STR))
    for field in ("orgId", "actorId"):
        if field not in document:
            faults.append((field, REQUIRED))
        elif (fault := _int_fault(document[field])) is not None:
            faults.append((field, fault))
    try:
        issued_at(document.get("issuedAt"))
    except (ValueError, OverflowError, OSError):
        faults.append(("issuedAt", ""))  # the validator's wording varies: prefix only
    if "payload" not in document:
        faults.append(("payload", REQUIRED))
    elif not isinstance(document["payload"], dict):
        faults.append(("payload", NOT_DICT))
    return [problem(9000, f"{field}: {message}") for field, message in faults]


def _text_fault(payload: Doc, field: str, absent_code: int) -> Doc | None:
    """referenceId and name: 1 to 256 characters; missing, null or empty has its own code."""
    if field not in payload or payload[field] is None or payload[field] == "":
        return problem(absent_code)
    value = payload[field]
    if not isinstance(value, str):
        return problem(9005, f"{field}: {NOT_STR}")
    if not _is_text(value):
        return problem(9005, f"{field}: ")
    if len(value) > MAX_TEXT:
        return problem(9005, f"{field}: {TOO_LONG}")
    return None


def _id_fault(payload: Doc, field: str, code: int) -> Doc | None:
    if field not in payload:
        return problem(code, f"{field}: {REQUIRED}")
    value = payload[field]
    if not isinstance(value, str):
        return problem(code, f"{field}: {NOT_STR}")
    if not _is_text(value):
        return problem(code, f"{field}: ")
    if _OBJECT_ID.fullmatch(value) is None:
        return problem(code, f"{field}: {NOT_OBJECT_ID}")
    return None


def _payload_faults(type_: str, payload: Doc) -> list[Doc]:
    """One problem per bad field, in the order the fields are checked."""
    faults: list[Doc | None]
    if type_ in ("ClaimBadge", "UnclaimBadge"):
        owner = payload.get("ownerType")
        faults = [
            _id_fault(payload, "badgeId", 9002),
            None if isinstance(owner, str) and owner in OWNER_TYPES else problem(400),
            _text_fault(payload, "referenceId", 717),
        ]
    else:
        faults = [_text_fault(payload, "name", 9006), _rank_fault(payload)]
        if type_ == "UpdateBadgeGroup":
            faults.append(_id_fault(payload, "groupId", 9003))
    return [f for f in faults if f is not None]


def _rank_fault(payload: Doc) -> Doc | None:
    if payload.get("rank") is None:
        return problem(732)
    fault = _int_fault(payload["rank"])
    return problem(9005, f"rank: {fault}") if fault else None


def validate(document: Doc, topic: str | None) -> Doc:
    """The command, its commandId canonical; RejectedError carries the answer if invalid."""
    command_id = canonical_uuid(document.get("commandId"))
    if command_id is None:
        raise UnreadableError("no usable commandId")
    envelope_faults = _envelope_faults(document)
    if envelope_faults:
        org = document.get("orgId")
        # A rejected envelope echoes the commandId as it was sent.
        raise RejectedError(_event(str(document["commandId"]), _echo_type(document.get("type")),
                              org if _is_int(org) else None, None, envelope_faults))
    type_, org = document["type"], document["orgId"]

    def rejected(*errors: Doc) -> RejectedError:
        return RejectedError(_event(command_id, _echo_type(type_), org, None, list(errors)))

    if type_ not in TYPES:
        shown = type_ if len(type_) <= MAX_ECHO else type_[:MAX_ECHO] + "..."
        raise rejected(problem(9001, repr(shown)))
    if topic is not None and type_ not in TOPIC_TYPES[topic]:
        raise rejected(problem(9001, f"{type_} is not accepted on this topic"))
    faults = _payload_faults(type_, document["payload"])
    if faults:
        raise rejected(*faults)
    return {**document, "commandId": command_id}


# -- deciding -----------------------------------------------------------------------------


def new_group_id(org_id: int, command_id: str, at: float) -> str:
    """The documented derivation of a created group's id (a redelivered create makes the same
    group): an ObjectId whose 4 bytes of seconds are the command's time and whose 8 further
    bytes are the first 8 of sha256("<orgId>:<commandId>")."""
    digest = hashlib.sha256(f"{org_id}:{command_id}".encode()).digest()
    return int(at).to_bytes(4, "big").hex() + digest[:8].hex()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def claim_id(org_id: int, badge_id: str, owner_type: str, reference_id: str) -> str:
    return f"{org_id}:{badge_id.lower()}:{owner_type}:{reference_id}"


def group_data(doc: Doc) -> Doc:
    """A group as the API shows it."""
    return {
        "id": doc["_id"], "orgId": doc["orgId"], "name": doc["name"], "rank": doc["rank"],
        "createdBy": doc["createdBy"], "createdOn": doc["createdOn"],
        "createdOnISO": iso(doc["createdOn"]), "lastUpdatedBy": doc["lastUpdatedBy"],
        "lastUpdatedOn": doc["lastUpdatedOn"], "lastUpdatedOnISO": iso(doc["lastUpdatedOn"]),
        "isActive": doc["isActive"],
    }


class Model:
    """The service's state and answers after the commands applied so far, in order."""

    def __init__(self) -> None:
        self.claims: dict[str, Doc] = {}
        self.groups: dict[str, Doc] = {}
        self.names: dict[tuple[int, str], str] = {}
        self.answers: dict[tuple[int, str], Doc] = {}

    def copy(self) -> Model:
        """An independent copy, e.g. to try several orders of the same commands."""
        return copy.deepcopy(self)

    def apply_raw(self, value: bytes | None, at: float, topic: str | None = None) -> Doc | None:
        try:
            document = read(value)
        except UnreadableError:
            return None
        return self.apply(document, at, topic)

    def apply(self, command: Doc, at: float, topic: str | None = None) -> Doc:
        try:
            valid = validate(command, topic_suffix(topic))
        except RejectedError as rejection:
            return rejection.event  # rejections are not logged: nothing is remembered
        key = (valid["orgId"], valid["commandId"])
        if key not in self.answers:
            moment = issued_at(valid.get("issuedAt"))
            self.answers[key] = self._decide(valid, at if moment is None else moment)
        return self.answers[key]

    def _decide(self, command: Doc, at: float) -> Doc:
        type_, org, actor = command["type"], command["orgId"], command["actorId"]
        payload = command["payload"]
        if type_ in ("ClaimBadge", "UnclaimBadge"):
            data, errors, warnings = self._claim(type_ == "ClaimBadge", org, payload, actor, at)
        elif type_ == "CreateBadgeGroup":
            gid = new_group_id(org, command["commandId"], at)
            data, errors, warnings = self._create(org, gid, payload, actor, at)
        else:
            data, errors, warnings = self._update(org, payload, actor, at)
        return _event(command["commandId"], type_, org, data, errors, warnings)

    def _claim(self, claim: bool, org: int, payload: Doc, actor: int, at: float
               ) -> tuple[Doc | None, list[Doc], list[Doc]]:
        badge, owner, ref = payload["badgeId"].lower(), payload["ownerType"], payload["referenceId"]
        cid = claim_id(org, badge, owner, ref)
        active = self.claims.get(cid, {}).get("isActive", False)
        if claim and active:
            data = {"badgeMetaId": badge, "ownerType": owner, "referenceId": ref}
            return data, [], [problem(9100)]
        if not claim and not active:
            return None, [problem(737)], []
        doc = self.claims.setdefault(cid, {
            "_id": cid, "orgId": org, "badgeMetaId": badge, "ownerType": owner,
            "referenceId": ref, "createdBy": actor, "createdOn": at,
        })
        doc.update(isActive=claim, lastUpdatedBy=actor, lastUpdatedOn=at)
        if claim:
            return {"badgeMetaId": badge, "ownerType": owner, "referenceId": ref}, [], []
        return {"ownerType": owner, "referenceId": ref, "isActive": False}, [], []

    def _create(self, org: int, gid: str, payload: Doc, actor: int, at: float
                ) -> tuple[Doc | None, list[Doc], list[Doc]]:
        name = payload["name"]
        if self.names.get((org, name), gid) != gid:
            return None, [problem(733)], []
        self.names[(org, name)] = gid
        self.groups[gid] = {
            "_id": gid, "orgId": org, "name": name, "rank": payload["rank"],
            "createdBy": actor, "createdOn": at, "lastUpdatedBy": actor, "lastUpdatedOn": at,
            "isActive": True,
        }
        return group_data(self.groups[gid]), [], []

    def _update(self, org: int, payload: Doc, actor: int, at: float
                ) -> tuple[Doc | None, list[Doc], list[Doc]]:
        gid, name = payload["groupId"].lower(), payload["name"]
        group = self.groups.get(gid)
        if group is None or group["orgId"] != org:  # one org never sees another's groups
            return None, [problem(9004, payload["groupId"])], []
        old = group["name"]
        if name != old:
            if self.names.get((org, name), gid) != gid:
                return None, [problem(733)], []
            self.names[(org, name)] = gid
            if self.names.get((org, old)) == gid:  # a rename frees the old name
                del self.names[(org, old)]
        group.update(name=name, rank=payload["rank"], lastUpdatedBy=actor, lastUpdatedOn=at)
        return group_data(group), [], []


# -- comparing ----------------------------------------------------------------------------


def _problems_match(expected: list[Doc], actual: list[Doc]) -> bool:
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual, strict=True):
        if want["code"] != got.get("code"):
            return False
        text, published = want["message"], got.get("message", "")
        if text != published and not (text.endswith(": ") and published.startswith(text)):
            return False
    return True


def answers_match(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    """True if a published result event is the answer the model expects."""
    same = ("commandId", "type", "orgId", "data")
    if any(expected.get(k) != actual.get(k) for k in same):
        return False
    return _problems_match(expected["errors"], actual.get("errors") or []) and \
        _problems_match(expected["warnings"], actual.get("warnings") or [])


def stored_form(doc: Mapping[str, Any]) -> Doc:
    """A document read from MongoDB, with ObjectIds (anything with a `binary` form) as hex,
    without the write fence (where in Kafka its last write came from: not the contract's)."""
    return {k: str(v) if hasattr(v, "binary") else v for k, v in doc.items() if k != "fence"}
