"""The gateway's users file and credential checks (argon2 for real, no servers)."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from service.gateway import auth
from service.gateway.auth import Authenticator, Identity, basic_credentials
from service.gateway.users import add_user, load


def header(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_add_user_writes_a_private_file_and_replaces_by_name(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "users.json"
    assert add_user(path, "alice", "pw1", 1, 7) is False
    assert add_user(path, "bob", "pw2", 2, 8) is False
    assert add_user(path, "alice", "pw3", 3, 9) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = load(path).by_name()
    assert sorted(users) == ["alice", "bob"]
    assert (users["alice"].orgId, users["alice"].userId) == (3, 9)
    assert "pw3" not in path.read_text() and users["alice"].passwordHash.startswith("$argon2id$")
    assert [p.name for p in path.parent.iterdir()] == ["users.json"]  # no temporary left
    with pytest.raises(ValueError, match="empty"):
        add_user(path, "carol", "", 1, 1)


def test_cli_reads_the_password_from_stdin_and_refuses_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    env = {**os.environ, "BADGES_GATEWAY_USERS_FILE": str(path)}
    command = [sys.executable, "-m", "service.cli.commands", "gateway-user", "add", "--name", "ops",
               "--org-id", "5", "--user-id", "6"]
    refused = subprocess.run(command, input="\n", env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "empty password" in refused.stderr
    assert not path.exists()
    added = subprocess.run(command, input="s3cret\n", env=env, capture_output=True, text=True,
                           timeout=60)
    assert added.returncode == 0, added.stderr
    user = load(path).by_name()["ops"]
    assert (user.orgId, user.userId) == (5, 6)


@pytest.mark.parametrize("value", [None, "", "Bearer x", "Basic", "Basic !!!",
                                   "Basic " + base64.b64encode(b"no-colon").decode(),
                                   "Basic " + base64.b64encode(b"\xff:x").decode()])
def test_malformed_headers_carry_no_credentials(value: str | None) -> None:
    assert basic_credentials(value) is None


def test_a_password_may_hold_colons() -> None:
    assert basic_credentials(header("a", "b:c")) == ("a", "b:c")


async def test_verifications_are_cached_and_a_changed_file_empties_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users.json"
    add_user(path, "alice", "right", 1, 7)
    now = [1000.0]
    checker = Authenticator(path, clock=lambda: now[0])
    verified = _count_verifications(checker, monkeypatch)
    alice = Identity("alice", 1, 7)
    assert await checker.identify(header("alice", "right")) == alice
    assert await checker.identify(header("alice", "right")) == alice
    assert verified == ["right"]  # the second came from the cache
    assert await checker.identify(header("alice", "wrong")) is None
    assert await checker.identify(header("alice", "wrong")) is None
    assert verified == ["right", "wrong"]  # a failure is remembered for a while
    now[0] += auth.FAILURE_SECONDS + 1
    assert await checker.identify(header("alice", "wrong")) is None
    assert verified == ["right", "wrong", "wrong"]  # then checked again

    now[0] += auth.CACHE_SECONDS + 1
    assert await checker.identify(header("alice", "right")) == alice
    assert len(verified) == 4  # expired: verified again

    add_user(path, "alice", "new", 1, 7)  # a changed password takes effect at once
    assert await checker.identify(header("alice", "right")) is None
    assert await checker.identify(header("alice", "new")) == alice
    assert await checker.identify(header("mallory", "x")) is None


async def test_a_burst_from_a_new_caller_costs_one_verification(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users.json"
    add_user(path, "alice", "right", 1, 7)
    checker = Authenticator(path)
    verified = _count_verifications(checker, monkeypatch)
    burst = [header("alice", "right")] * 20 + [header("alice", "wrong")] * 5
    found = await asyncio.gather(*(checker.identify(h) for h in burst))
    assert found == [Identity("alice", 1, 7)] * 20 + [None] * 5
    assert sorted(verified) == ["right", "wrong"]


async def test_no_users_file_refuses_everyone(tmp_path: Path) -> None:
    checker = Authenticator(tmp_path / "absent.json")
    assert await checker.identify(header("alice", "x")) is None
    (tmp_path / "absent.json").write_text("{not json")
    assert await checker.identify(header("alice", "x")) is None


def _count_verifications(checker: Authenticator, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords the checker really verifies (not answered from its cache), in order."""
    verified: list[str] = []
    original = checker._verify

    def counting(name: str, password: str) -> Identity | None:
        verified.append(password)
        return original(name, password)

    monkeypatch.setattr(checker, "_verify", counting)
    return verified


async def test_a_flood_of_wrong_passwords_is_refused_past_the_bound_not_queued(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users.json"
    add_user(path, "alice", "right", 1, 7)
    checker = Authenticator(path)
    assert await checker.identify(header("alice", "right")) == Identity("alice", 1, 7)
    monkeypatch.setattr(auth, "QUEUE_BOUND", 3)
    flood = [checker.identify(header("mallory", f"guess-{n}")) for n in range(12)]
    answers = await asyncio.gather(*flood, return_exceptions=True)
    refused = [a for a in answers if isinstance(a, auth.ChecksBusyError)]
    assert len(refused) == 9 and answers.count(None) == 3  # 3 checked, 9 refused at once
    # Meanwhile a cached caller never waits for a check, and a new one is checked again
    # once the queue has room.
    assert await checker.identify(header("alice", "right")) == Identity("alice", 1, 7)
    assert await checker.identify(header("mallory", "guess-0")) is None  # remembered
