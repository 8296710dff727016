"""One write through the gateway: body to command, published, its result awaited.

The body's fields go into the payload as they are, and the worker decides every code, as
for a command sent straight to Kafka; the gateway adds the path's id, takes the type from
the route and the org and user from the credentials only (a body's `orgId` is one more
unknown payload member, which the worker ignores).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError

from badges_schemas import Code
from badges_schemas.commands import CommandType
from badges_sdk.replies import (
    MalformedResultError,
    ResultsUnavailableError,
    ResultTimeoutError,
)
from service.gateway.auth import Identity
from service.gateway.envelopes import failure, from_result
from service.gateway.idempotency import command_id_for, request_digest
from service.gateway.runtime import GatewayRuntime
from service.store.gateway_reads import KeyContentionError, KeyUse

log = logging.getLogger(__name__)

# The body is a payload of a few short fields (each string at most 256 characters); a
# larger one is refused before it could make a command too large for the broker.
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    command_id: str | None = None


class BadBodyError(ValueError):
    """The body is not a JSON object (or too large): answered 400 with 9000."""


def payload_of(command_type: CommandType, raw: bytes, path_ids: dict[str, str]
               ) -> dict[str, Any]:
    """The command's payload: the body's members, the path's id over any of the same name."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadBodyError(f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadBodyError("body: not JSON") from None
    if not isinstance(body, dict):
        raise BadBodyError(f"body: JSON but not an object: {type(body).__name__}")
    # Only a "\u" escape or a non-ASCII byte can make a lone surrogate ("\ud800": valid
    # JSON, but no text a key could be made of): the usual ASCII body skips the check.
    if b"\\u" in raw or not raw.isascii():
        try:
            json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise BadBodyError("body: a string holds an unpaired surrogate") from None
    payload = {**body, **path_ids}
    if command_type is CommandType.CREATE_BADGE_GROUP:
        # The client keys a creation by its name; absent and null get the same answer (9006).
        payload.setdefault("name", None)
    return payload


async def execute(runtime: GatewayRuntime, command_type: CommandType, identity: Identity,
                  raw: bytes, path_ids: dict[str, str], key: str | None) -> Answer:
    try:
        payload = payload_of(command_type, raw, path_ids)
    except BadBodyError as exc:
        return Answer(400, failure(Code.MALFORMED_COMMAND, str(exc)))
    if runtime.client is None or not runtime.client.reading:
        # Its answer could not be awaited: publishing would only make a 503 after the fact.
        return Answer(503, failure(Code.UNAVAILABLE, "the gateway's result reader is "
                                   "restarting; nothing was published"))
    if key is None:
        command_id = str(uuid.uuid4())
    else:
        command_id = command_id_for(identity.org_id, identity.user_id, key)
        try:
            used_otherwise = await _key_used_otherwise(runtime, identity, command_id,
                                                       command_type, payload)
        except PyMongoError as exc:
            log.warning("recording idempotency key of %s failed (%.300r)", command_id, exc)
            return Answer(503, failure(Code.UNAVAILABLE, "MongoDB: nothing was published"))
        except KeyContentionError as exc:  # other requests with this key, right now
            return Answer(503, failure(Code.UNAVAILABLE, f"{exc}; nothing was published"))
        if used_otherwise:
            detail = "send the same request again, or use a new key"
            return Answer(422, failure(Code.IDEMPOTENCY_KEY_REUSED, detail), command_id)
    return await _publish_and_await(runtime, command_type, identity, payload, command_id)


async def _key_used_otherwise(runtime: GatewayRuntime, identity: Identity, command_id: str,
                              command_type: CommandType, payload: dict[str, Any]) -> bool:
    assert runtime.store is not None
    now = datetime.now(UTC)
    use = await runtime.store.use_key(identity.org_id, command_id,
                                      request_digest(command_type, payload), now,
                                      now + runtime.key_lifetime)
    return use is KeyUse.DIFFERENT


async def _publish_and_await(runtime: GatewayRuntime, command_type: CommandType,
                             identity: Identity, payload: dict[str, Any], command_id: str
                             ) -> Answer:
    client = runtime.client
    assert client is not None
    timeout = runtime.settings.gateway_timeout_seconds
    try:
        await client.send(command_type, identity.org_id, identity.user_id, payload,
                          command_id=command_id)
    except (KafkaError, TimeoutError, OSError) as exc:
        log.warning("publishing command %s failed (%.300r)", command_id, exc)
        detail = (f"Kafka did not acknowledge command {command_id}, which may or may not "
                  f"have been published; send it again with the same Idempotency-Key")
        return _about(command_id, 503, Code.UNAVAILABLE, detail)
    try:
        event = await client.result(command_id, timeout=timeout, org_id=identity.org_id)
    except MalformedResultError as exc:  # not the worker's answer: say so, not "no answer"
        log.error("the result of command %s is malformed: %s", command_id, exc)
        return _about(command_id, 502, Code.MALFORMED_RESULT, str(exc))
    except ResultsUnavailableError as exc:  # the reader stopped: readiness says so too
        log.error("cannot await the result of command %s: %s", command_id, exc)
        detail = (f"command {command_id} was published but its result cannot be awaited "
                  f"here; `badges results` shows it once a worker has it")
        return _about(command_id, 503, Code.UNAVAILABLE, detail)
    except ResultTimeoutError:
        log.warning("no result for command %s within %gs: answered 504", command_id, timeout,
                    extra={"commandId": command_id, "orgId": identity.org_id})
        detail = (f"no result for command {command_id} within {timeout:g}s; it was "
                  f"published and will be answered: `badges results` shows the answer "
                  f"once a worker has it")
        return _about(command_id, 504, Code.NO_RESULT_IN_TIME, detail)
    body = from_result(command_type, event)
    return Answer(400 if event.errors else 200, body, command_id)


def _about(command_id: str, status: int, code: Code, detail: str) -> Answer:
    """A failure about a published (or maybe published) command: its id in the body."""
    return Answer(status, {**failure(code, detail), "commandId": command_id}, command_id)
