"""OAuth access tokens and access rights (real argon2 and PyJWT, no servers)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from service.gateway import tokens
from service.gateway.auth import Authenticator, bearer_token
from service.gateway.users import (
    Access,
    ResourceGroup,
    add_client,
    add_user,
    load,
    parse_rights,
)

MODIFY = {ResourceGroup.TARGET_GROUPS: Access.MODIFY}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    users = tmp_path / "users.json"
    add_client(users, "client-one", "s3cret", 50156, 123, MODIFY, 300)
    add_client(users, "client-two", "other", 777, 9, {}, 300)
    return users


async def test_a_client_gets_a_token_that_names_its_org_and_itself(path: Path) -> None:
    checker = Authenticator(path)
    issued = await checker.token_for("client-one", "s3cret")
    assert issued is not None
    token, ttl = issued
    assert ttl == 300
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["org_id"], claims["client_id"], claims["exp"] - claims["iat"]) == (
        50156, "client-one", 300)
    caller = checker.identify_token(token)
    assert caller is not None and (caller.org_id, caller.user_id) == (50156, 123)
    assert caller.may(Access.MODIFY)
    assert await checker.token_for("client-one", "wrong") is None
    assert await checker.token_for("nobody-at-all", "s3cret") is None


def test_expired_forged_and_wrong_org_tokens_identify_no_one(path: Path) -> None:
    checker = Authenticator(path)
    key = load(path).tokenKey
    assert key is not None
    now = int(time.time())
    good = tokens.issue(key, 50156, "client-one", now, 300)
    assert checker.identify_token(good) is not None
    expired = tokens.issue(key, 50156, "client-one", now - 400, 300)
    forged = tokens.issue(os.urandom(32).hex(), 50156, "client-one", now, 300)
    other_org = tokens.issue(key, 777, "client-one", now, 300)  # client-one is org 50156's
    unsigned = jwt.encode({"iss": tokens.ISSUER, "iat": now, "exp": now + 300,
                           "org_id": 50156, "client_id": "client-one"}, None, algorithm="none")
    missing_claim = jwt.encode({"iss": tokens.ISSUER, "iat": now, "exp": now + 300,
                                "client_id": "client-one"}, bytes.fromhex(key), "HS256")
    for token in (expired, forged, other_org, unsigned, missing_claim, "not.a.jwt", ""):
        assert checker.identify_token(token) is None, token
    # A client removed from the file (same token key) loses its tokens at once.
    content = load(path)
    kept = [c for c in content.clients if c.key != "client-one"]
    path.write_text(content.model_copy(update={"clients": kept}).model_dump_json())
    assert load(path).tokenKey == key
    assert checker.identify_token(good) is None


def test_tokens_are_read_from_each_header_the_platform_names() -> None:
    for headers in ({"cap-api-access-token": "t"}, {"x-cap-api-oauth-token": " t "},
                    {"authorization": "Bearer t"}, {"authorization": "bearer t"}):
        assert bearer_token(headers) == "t"
    basic = "Basic " + base64.b64encode(b"a:b").decode()
    assert bearer_token({"authorization": basic}) is None and bearer_token({}) is None


async def test_rights_come_from_the_file_and_old_users_keep_every_right(tmp_path: Path
                                                                        ) -> None:
    path = tmp_path / "users.json"
    add_user(path, "old", "pw", 1, 1)  # as before rights existed: no access member
    add_user(path, "viewer", "pw", 1, 2, {ResourceGroup.TARGET_GROUPS: Access.VIEW})
    add_user(path, "other", "pw", 1, 3, {ResourceGroup.TRANSACTION: Access.MODIFY})
    assert '"access"' not in path.read_text().split('"viewer"')[0]
    checker = Authenticator(path)

    def basic(name: str) -> str:
        return "Basic " + base64.b64encode(f"{name}:pw".encode()).decode()

    old, viewer, other = [await checker.identify(basic(n)) for n in ("old", "viewer", "other")]
    assert old is not None and old.may(Access.MODIFY)
    assert viewer is not None and viewer.may(Access.VIEW) and not viewer.may(Access.MODIFY)
    assert other is not None and not other.may(Access.VIEW)


def test_access_specs_parse_as_the_platform_names_them() -> None:
    assert parse_rights(["Target Groups=Modify", "transaction=view", "ALL=None"]) == {
        ResourceGroup.TARGET_GROUPS: Access.MODIFY, ResourceGroup.TRANSACTION: Access.VIEW,
        ResourceGroup.ALL: Access.NONE}
    assert parse_rights(["target-groups=modify"]) == MODIFY
    for bad in ("Target Groups", "Loyalty=Modify", "All=Write"):
        with pytest.raises(ValueError, match="GROUP=LEVEL"):
            parse_rights([bad])


def test_cli_adds_a_client_with_its_secret_from_stdin(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    env = {**os.environ, "BADGES_GATEWAY_USERS_FILE": str(path)}
    command = [sys.executable, "-m", "service.cli.commands", "gateway-client", "add",
               "--org-id", "5", "--user-id", "6", "--access", "Target Groups=View",
               "--key", "loyalty-client"]
    refused = subprocess.run([*command[:-2], "--access", "Target=Write"], input="x\n", env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "GROUP=LEVEL" in refused.stderr
    added = subprocess.run(command, input="s3cret\n", env=env, capture_output=True, text=True,
                           timeout=60)
    assert added.returncode == 0, added.stderr
    client = load(path).by_key()["loyalty-client"]
    assert (client.orgId, client.userId, client.access) == (
        5, 6, {ResourceGroup.TARGET_GROUPS: Access.VIEW})
    assert "s3cret" not in path.read_text() and client.secretHash.startswith("$argon2id$")
    assert load(path).tokenKey
