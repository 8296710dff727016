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
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.settings import Settings
from tests.infra.gateway import GatewayProcess, GatewayUsers
from tests.infra.gateways import running_gateways
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

OPENAPI = Path(__file__).resolve().parents[2] / "schemas" / "generated" / "gateway-openapi.json"
EXAMPLES = 40  # per operation and mode: about 60 s here with the start of the processes
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
def gateway_api(gateway: GatewayProcess) -> schemathesis.BaseSchema:
    api = schemathesis.openapi.from_path(OPENAPI)
    api.config.update(base_url=gateway.url, request_timeout=REQUEST_TIMEOUT)
    return api


@pytest.fixture
def authorization(users: GatewayUsers) -> str:
    return users.basic("loyalty")


schema = schemathesis.pytest.from_fixture("gateway_api")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_live_gateway_conforms_to_its_openapi_document(case: schemathesis.Case,
                                                           authorization: str) -> None:
    # The credentials replace whatever the case generated for the security scheme.
    response = case.call_and_validate(headers={"Authorization": authorization}, checks=CHECKS)
    assert response.status_code != 401, f"valid credentials refused: {response.text}"
