"""The gateway's users file: who may call it, as which org and user id, with which rights.

JSON: {"users": [{"name", "passwordHash" (argon2id), "orgId", "userId", "access"?}],
       "clients": [{"key", "secretHash" (argon2id), "orgId", "userId", "access",
                    "tokenTtlSeconds"}],
       "tokenKey"?: <hex: the key that signs OAuth access tokens>}.
Only hashes are stored; `badges gateway-user add` and `badges gateway-client add` write the
file (mode 0600, atomically); the first client added makes the token key. Every replica
mounting the same file accepts the others' tokens.

`access` is the platform's: per resource group ("Target Groups", "Transaction", "All"),
"None", "View" (read) or "Modify" (read and write); a group not listed is "None". A user
without `access` (a file written before rights existed) has Modify on every group, as it
had every right then.
"""

from __future__ import annotations

import enum
import os
import secrets
import tempfile
from pathlib import Path

from argon2 import PasswordHasher
from pydantic import BaseModel, ConfigDict, Field

from badges_schemas.commands import Int64


class ResourceGroup(enum.StrEnum):
    TARGET_GROUPS = "Target Groups"  # the loyalty target group APIs: badges among them
    TRANSACTION = "Transaction"
    ALL = "All"  # every other API


class Access(enum.StrEnum):
    NONE = "None"
    VIEW = "View"
    MODIFY = "Modify"

    def allows(self, needed: Access) -> bool:
        order = (Access.NONE, Access.VIEW, Access.MODIFY)
        return order.index(self) >= order.index(needed)


Rights = dict[ResourceGroup, Access]
EVERY_RIGHT: Rights = dict.fromkeys(ResourceGroup, Access.MODIFY)


class User(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    passwordHash: str
    orgId: Int64
    userId: Int64
    access: Rights | None = None  # None: a file from before rights, every right

    def rights(self) -> Rights:
        return EVERY_RIGHT if self.access is None else self.access


class Client(BaseModel):
    """An API client: key and secret for OAuth tokens, as the platform's clients."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=8)
    secretHash: str
    orgId: Int64
    userId: Int64  # in createdBy / lastUpdatedBy of what its calls do
    access: Rights = {}
    tokenTtlSeconds: int = Field(default=300, ge=30, le=86_400)


class UsersFile(BaseModel):
    users: list[User] = []
    clients: list[Client] = []
    tokenKey: str | None = None

    def by_name(self) -> dict[str, User]:
        return {u.name: u for u in self.users}

    def by_key(self) -> dict[str, Client]:
        return {c.key: c for c in self.clients}


def hasher() -> PasswordHasher:
    """argon2id with the library's defaults (RFC 9106's second recommended profile)."""
    return PasswordHasher()


def load(path: Path) -> UsersFile:
    return UsersFile.model_validate_json(path.read_bytes())


def add_user(path: Path, name: str, password: str, org_id: int, user_id: int,
             access: Rights | None = None) -> bool:
    """Add the user (replacing one of the same name); True if one was replaced."""
    if not password:
        raise ValueError("the password is empty")
    current = load(path) if path.exists() else UsersFile()
    user = User(name=name, passwordHash=hasher().hash(password), orgId=org_id, userId=user_id,
                access=access)
    others = [u for u in current.users if u.name != name]
    _write(path, current.model_copy(update={"users": [*others, user]}))
    return len(others) != len(current.users)


def add_client(path: Path, key: str, secret: str, org_id: int, user_id: int, access: Rights,
               ttl_seconds: int) -> bool:
    """Add the API client (replacing one of the same key); True if one was replaced."""
    if not secret:
        raise ValueError("the secret is empty")
    current = load(path) if path.exists() else UsersFile()
    client = Client(key=key, secretHash=hasher().hash(secret), orgId=org_id, userId=user_id,
                    access=access, tokenTtlSeconds=ttl_seconds)
    others = [c for c in current.clients if c.key != key]
    _write(path, current.model_copy(update={
        "clients": [*others, client], "tokenKey": current.tokenKey or secrets.token_hex(32)}))
    return len(others) != len(current.clients)


def _write(path: Path, content: UsersFile) -> None:
    """Written to a temporary file in the same folder, then renamed over the old one: a
    gateway reloading the file meanwhile reads the old or the new one, never half of one."""
    text = content.model_dump_json(indent=2, exclude_none=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def parse_rights(specs: list[str]) -> Rights:
    """`GROUP=LEVEL` items (the CLI's --access), e.g. "Target Groups=Modify"; names match
    whatever their case, spaces and dashes."""
    def plain(text: str) -> str:
        return text.replace("-", "").replace(" ", "").replace("_", "").lower()

    groups = {plain(g.value): g for g in ResourceGroup}
    levels = {plain(a.value): a for a in Access}
    rights: Rights = {}
    for spec in specs:
        group, equals, level = spec.partition("=")
        if not equals or plain(group) not in groups or plain(level) not in levels:
            raise ValueError(f"{spec!r}: expected GROUP=LEVEL, GROUP one of "
                             f"{', '.join(g.value for g in ResourceGroup)}, LEVEL one of "
                             f"{', '.join(a.value for a in Access)}")
        rights[groups[plain(group)]] = levels[plain(level)]
    return rights
