"""Who calls: HTTP Basic against the users file (verified credentials cached), or an OAuth
access token (tokens.py) of one of its API clients; and the access rights they have.

Verifying an argon2 hash costs tens of milliseconds of CPU by design; at hundreds of
requests per second that would be the gateway's whole budget. So a successful verification
is remembered while it is used (until `CACHE_SECONDS` after its last use), keyed by the
SHA-256 of the header value (the password itself is never kept), in a bounded LRU. The file
is read again whenever its mtime, size or inode change, and the cache is emptied then: a
removed user or a changed password takes effect at the next request. Verification runs in
a thread (argon2's C code releases the GIL), so requests in flight are not held up by it.

A flood of wrong credentials costs its sender, not the valid callers: a failed check is
remembered for `FAILURE_SECONDS` (the same wrong header again is refused without a check),
checks run on half the cores at most, and past `QUEUE_BOUND` checks waiting or running a
request is refused at once with 429 instead of queueing (ChecksBusyError). Callers whose
credentials are cached never wait for a check.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache
from pydantic import ValidationError

from service.gateway import tokens
from service.gateway.users import (
    EVERY_RIGHT,
    Access,
    Client,
    ResourceGroup,
    Rights,
    User,
    UsersFile,
    hasher,
    load,
)

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
CACHE_SIZE = 10_000
# A failed check is remembered this long: the same wrong credentials again cost nothing.
FAILURE_SECONDS = 10.0
# Hash checks at once: half the cores, so that a flood of wrong credentials leaves the other
# half to the callers whose credentials are cached.
VERIFY_CONCURRENCY = max(1, (os.cpu_count() or 2) // 2)
# Hash checks waiting or running; past it a request is refused at once (429), not queued
# behind a flood: at ~50 ms a check, the last one waits about a second.
QUEUE_BOUND = 20
T = TypeVar("T")
FileVersion = tuple[int, int, int] | None  # (mtime_ns, size, inode); None: no file


# Where a request may carry an OAuth access token: the platform's API overview names the
# first, other pages of its docs the second; `Authorization: Bearer` as RFC 6750.
TOKEN_HEADERS = ("cap-api-access-token", "x-cap-api-oauth-token")


class ChecksBusyError(RuntimeError):
    """Too many credential checks are waiting: answered 429, try again shortly."""


@dataclass(frozen=True)
class Identity:
    """Who calls: the org and user every command of theirs carries, and their rights."""

    name: str
    org_id: int
    user_id: int
    rights: Rights = field(default_factory=lambda: dict(EVERY_RIGHT))

    def may(self, needed: Access, group: ResourceGroup = ResourceGroup.TARGET_GROUPS) -> bool:
        return self.rights.get(group, Access.NONE).allows(needed)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The OAuth access token a request carries, if any."""
    for name in TOKEN_HEADERS:
        if (token := headers.get(name)) is not None:
            return token.strip()
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(name, password) from an `Authorization: Basic ...` value, or None."""
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon else None


class Authenticator:
    def __init__(self, path: Path, clock: Callable[[], float] | None = None) -> None:
        self.path = path
        self._clock = clock or time.monotonic
        self._version: FileVersion = None
        self._users: dict[str, User] = {}
        self._clients: dict[str, Client] = {}
        self._token_key: str | None = None
        self._cache: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Identity | None]] = {}
        self._failed: TTLCache[str, bool] = TTLCache(CACHE_SIZE, FAILURE_SECONDS,
                                                     timer=self._clock)
        self._queued = 0
        # argon2 takes 64 MiB and a core's worth of work per check: a flood of wrong
        # passwords queues here rather than exhausting memory and starving the requests.
        self._verifying = asyncio.Semaphore(VERIFY_CONCURRENCY)
        self._hasher = hasher()
        # Verified for unknown names too, so that a wrong name costs what a wrong password
        # does (no telling which names exist from the answer's time).
        self._decoy = self._hasher.hash("not a password of anyone")

    def reload_if_changed(self) -> None:
        version = self._file_version()
        if version == self._version:
            return
        self._version = version
        self._cache.clear()
        self._failed.clear()
        content = self._read() if version is not None else UsersFile()
        self._users, self._clients = content.by_name(), content.by_key()
        self._token_key = content.tokenKey
        if version is None:
            log.warning("no users file at %s: every request gets 401 (add one with "
                        "`badges gateway-user add`)", self.path)

    def _file_version(self) -> FileVersion:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _read(self) -> UsersFile:
        try:
            content = load(self.path)
        except (OSError, ValidationError) as exc:
            log.error("users file %s unreadable, every request gets 401: %s", self.path, exc)
            return UsersFile()
        log.info("users file %s: %d users, %d API clients", self.path, len(content.users),
                 len(content.clients))
        return content

    async def identify_request(self, headers: Mapping[str, str]) -> Identity | None:
        """The caller of a request, by its access token if it carries one, else by Basic."""
        token = bearer_token(headers)
        if token is not None:
            return self.identify_token(token)
        return await self.identify(headers.get("authorization"))

    def identify_token(self, token: str) -> Identity | None:
        """The API client an access token stands for; None if it is not valid now, its
        client is gone, or its org is not the client's."""
        self.reload_if_changed()
        if self._token_key is None:
            return None
        claims = tokens.verified_claims(self._token_key, token)
        client = self._clients.get(claims["client_id"]) if claims else None
        if claims is None or client is None or client.orgId != claims["org_id"]:
            return None
        return Identity(name=f"client {client.key}", org_id=client.orgId,
                        user_id=client.userId, rights=client.access)

    async def token_for(self, key: str, secret: str) -> tuple[str, int] | None:
        """(access token, ttl seconds) for an API client's key and secret, or None."""
        self.reload_if_changed()
        token_key, client = self._token_key, self._clients.get(key)
        right = await self._hash_check(self._matches,
                                       client.secretHash if client else self._decoy, secret)
        if not right or client is None or token_key is None:
            return None
        token = tokens.issue(token_key, client.orgId, client.key, int(time.time()),
                             client.tokenTtlSeconds)
        return token, client.tokenTtlSeconds

    async def _hash_check(self, check: Callable[..., T], *args: str) -> T:
        """One argon2 check in a thread, at most VERIFY_CONCURRENCY at once; refused with
        ChecksBusyError when QUEUE_BOUND are waiting or running already."""
        if self._queued >= QUEUE_BOUND:
            raise ChecksBusyError(f"{self._queued} credential checks are waiting")
        self._queued += 1
        try:
            async with self._verifying:
                return await asyncio.to_thread(check, *args)
        finally:
            self._queued -= 1

    def _matches(self, hashed: str, secret: str) -> bool:
        try:
            return bool(self._hasher.verify(hashed, secret))
        except (VerificationError, InvalidHashError):
            return False

    async def identify(self, header: str | None) -> Identity | None:
        """The caller's identity, or None for missing or wrong credentials (those seen
        wrong in the last FAILURE_SECONDS are not checked again). Raises ChecksBusyError
        when the check would have to queue behind too many others."""
        self.reload_if_changed()
        credentials = basic_credentials(header)
        if header is None or credentials is None:
            return None
        key = hashlib.sha256(header.encode()).hexdigest()
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            # Kept while in use: a caller's steady traffic never needs a check again (which
            # a flood could delay), and a change of the file empties the cache anyway.
            self._cache[key] = (cached[0], now + CACHE_SECONDS)
            self._cache.move_to_end(key)
            return cached[0]
        if key in self._failed:
            return None
        # Requests arriving together with the same header share one verification: a burst
        # from a new caller costs one hash check, not one per request.
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._verified(key, *credentials))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _verified(self, key: str, name: str, password: str) -> Identity | None:
        version = self._version
        identity = await self._hash_check(self._verify, name, password)
        # Not if the file changed while verifying: the check was against the old users.
        if identity is None and version == self._version:
            self._failed[key] = True
        if identity is not None and version == self._version:
            self._cache[key] = (identity, self._clock() + CACHE_SECONDS)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return identity

    def _verify(self, name: str, password: str) -> Identity | None:
        user = self._users.get(name)
        if not self._matches(user.passwordHash if user else self._decoy, password):
            return None
        if user is None:
            return None
        return Identity(name=user.name, org_id=user.orgId, user_id=user.userId,
                        rights=user.rights())
