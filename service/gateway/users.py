"""The gateway's users file: who may call it, as which org and user id.

JSON: {"users": [{"name": ..., "passwordHash": <argon2id>, "orgId": <int>, "userId": <int>}]}.
Only hashes are stored; `badges gateway-user add` writes the file (mode 0600, atomically).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from argon2 import PasswordHasher
from pydantic import BaseModel, ConfigDict, Field

from badges_schemas.commands import Int64


class User(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    passwordHash: str
    orgId: Int64
    userId: Int64


class UsersFile(BaseModel):
    users: list[User] = []

    def by_name(self) -> dict[str, User]:
        return {u.name: u for u in self.users}


def hasher() -> PasswordHasher:
    """argon2id with the library's defaults (RFC 9106's second recommended profile)."""
    return PasswordHasher()


def load(path: Path) -> UsersFile:
    return UsersFile.model_validate_json(path.read_bytes())


def add_user(path: Path, name: str, password: str, org_id: int, user_id: int) -> bool:
    """Add the user (replacing one of the same name); True if one was replaced.

    Written to a temporary file in the same folder, then renamed over the old one: a
    gateway reloading the file meanwhile reads the old or the new one, never half of one.
    """
    if not password:
        raise ValueError("the password is empty")
    current = load(path) if path.exists() else UsersFile()
    user = User(name=name, passwordHash=hasher().hash(password), orgId=org_id, userId=user_id)
    others = [u for u in current.users if u.name != name]
    text = UsersFile(users=[*others, user]).model_dump_json(indent=2) + "\n"
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
    return len(others) != len(current.users)
