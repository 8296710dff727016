"""Schemathesis against a live gateway and its committed OpenAPI document, worker running.

Requests generated from schemas/generated/gateway-openapi.json (valid ones and, in
schemathesis' negative mode, ones that break it), with valid credentials, to a real gateway
in front of a real worker: no answer may be a 5xx (a 504 while the worker is up is a
failure too), every answer must be one the document lists for its operation, with its
content type, and valid against its schema; valid credentials never get 401.
The examples per operation are bounded so that the test stays within about 90 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.gateway.oauth import PATH as TOKEN_PATH
from service.settings import Settings
from tests.infra.gateway import PREFIX, GatewayProcess, GatewayUsers
from tests.infra.gateways import running_gateways
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

TOKEN_HEADERS = ("CAP-API-ACCESS-TOKEN", "X-CAP-API-OAUTH-TOKEN")
OPENAPI = Path(__file__).resolve().parents[2] / "schemas" / "generated" / "gateway-openapi.json"
EXAMPLES = 30  # per operation and mode: about 60 s here with the start of the processes
REQUEST_TIMEOUT = 30  # above the gateway's own 10 s, so its 504 is what would be seen
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def users(tmp_path: Path) -> GatewayUsers:
    return GatewayUsers(tmp_path / "gateway-users.json").add("loyalty", 50156, 123)


@pytest.fixture
def gateway(settings: Settings, worker: WorkerProcess, users: GatewayUsers, tmp_path: Path
            ) -> Iterator[GatewayProcess]:
    with running_gateways(settings, users, tmp_path) as (started,):
        yield started


@pytest.fixture
def authorization(users: GatewayUsers) -> str:
    return users.basic("loyalty")


def conforms(operation: APIOperation, mode: GenerationMode, authorization: str) -> None:
    """Run the operation's examples in that mode; raise the (shrunk) failure if one fails."""
    strategy = operation.as_strategy(mode, headers={"Authorization": authorization})

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def examples(case: schemathesis.Case) -> None:
        # The credentials replace whatever the case generated for a security scheme (a
        # token header would be taken over Basic).
        for header in TOKEN_HEADERS:
            (case.headers or {}).pop(header, None)
        response = case.call_and_validate(headers={"Authorization": authorization},
                                          checks=CHECKS, timeout=REQUEST_TIMEOUT)
        if operation.path != TOKEN_PATH:  # its own body is the credentials: random ones
            assert response.status_code != 401, f"valid credentials refused: {response.text}"

    examples()


# Schemathesis' pytest integration (`schemathesis.pytest.from_fixture`) reads pytest's
# `Function._nodeid`, which pytest 9 no longer has: the operations are driven here through
# its Python API instead (`APIOperation.as_strategy` under Hypothesis' `given`).
def test_the_live_gateway_conforms_to_its_openapi_document(
        gateway: GatewayProcess, authorization: str) -> None:
    api = schemathesis.openapi.from_path(OPENAPI)
    api.config.update(base_url=gateway.url)
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.path for op in operations} >= {
        f"{PREFIX}/badgeMeta/{{badgeId}}/claim", f"{PREFIX}/group/{{groupId}}"}
    failures, ran = [], []
    for operation in operations:
        for mode in GenerationMode:
            try:
                conforms(operation, mode, authorization)
                ran.append((operation.label, mode))
            except Unsatisfiable:
                # No request breaks the document there (GET of a group: a free-form path
                # segment and the fixed credentials): nothing to send in negative mode.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # each operation and mode reports its own failure
                failures.append(f"{operation.label} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert {label for label, mode in ran if mode is GenerationMode.POSITIVE} == {
        op.label for op in operations}
    assert sum(mode is GenerationMode.NEGATIVE for _, mode in ran) >= 4, ran
