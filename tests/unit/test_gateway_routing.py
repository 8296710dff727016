"""Every answer the gateway gives is the envelope, and every spelling of the update routes
to the update: the routing alone, no connections (an app that never connected answers
401 or 503 before anything is published)."""

from __future__ import annotations

import pytest
from fastapi import Request, Response
from starlette.datastructures import QueryParams
from starlette.testclient import TestClient

from badges_schemas import Code
from service.gateway.app import create_app
from service.gateway.params import ListQuery, ParamsError, checked, list_query, update_target
from service.gateway.routes import PREFIX
from service.settings import Settings

GROUP = "6581281e8f68666070de15c5"


@pytest.fixture
def client() -> TestClient:
    app = create_app(Settings.model_construct(), connect=False)

    async def broken(_: Request) -> Response:
        raise ZeroDivisionError("a fault of the gateway")

    app.add_route("/broken", broken)
    return TestClient(app, raise_server_exceptions=False)


def envelope_codes(reply: object) -> list[int]:
    body = reply.json()  # type: ignore[attr-defined]
    assert set(body) == {"data", "errors", "warnings"} and body["data"] is None, body
    assert reply.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    return [e["code"] for e in body["errors"]]


@pytest.mark.parametrize("path", ["/nowhere", f"{PREFIX}/Group", f"{PREFIX}/GROUP/{GROUP}",
                                  f"{PREFIX}/badgemeta/{GROUP}/claim", f"{PREFIX}/not-an-id",
                                  f"{PREFIX}/{GROUP}/extra", "/api_gateway/v2/badges/group"])
def test_unknown_paths_answer_404_in_the_envelope(client: TestClient, path: str) -> None:
    reply = client.post(path, json={"name": "x", "rank": 1})
    assert reply.status_code == 404 and envelope_codes(reply) == [Code.UNKNOWN_PATH]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", f"{PREFIX}/badgeMeta/{GROUP}/claim", "POST"),
    ("DELETE", f"{PREFIX}/group/{GROUP}", "GET, POST, PUT"),
    ("GET", f"{PREFIX}/{GROUP}", "POST, PUT"),
    ("PATCH", f"{PREFIX}/group", "GET, POST, PUT"),
])
def test_wrong_methods_answer_405_with_allow_in_the_envelope(
        client: TestClient, method: str, path: str, allowed: str) -> None:
    reply = client.request(method, path)
    assert reply.status_code == 405 and reply.headers["allow"] == allowed
    assert envelope_codes(reply) == [Code.METHOD_NOT_ALLOWED]


@pytest.mark.parametrize(("method", "path"), [
    ("POST", f"/group/{GROUP}"), ("PUT", f"/group/{GROUP}"), ("PUT", f"/group?groupId={GROUP}"),
    ("POST", f"/group?groupId={GROUP}"), ("POST", f"/{GROUP}"), ("PUT", f"/{GROUP}"),
    ("PUT", f"/?groupId={GROUP}"), ("POST", f"?groupId={GROUP}"),
])
def test_every_update_spelling_has_a_route(client: TestClient, method: str, path: str
                                           ) -> None:
    # Routed (not 404/405): the route asks for credentials before anything else.
    reply = client.request(method, PREFIX + path, json={"name": "x", "rank": 1})
    assert reply.status_code == 401 and envelope_codes(reply) == [Code.UNAUTHORIZED]


def test_a_fault_answers_500_in_the_envelope(client: TestClient) -> None:
    reply = client.get("/broken")
    assert reply.status_code == 500 and envelope_codes(reply) == [Code.INTERNAL_ERROR]


def test_query_parameters_are_checked() -> None:
    assert checked(QueryParams("groupId=a"), ["groupId"]) == {"groupId": "a"}
    assert checked(QueryParams(""), []) == {}
    for query, allowed in (("groupid=a", ["groupId"]), ("x=1", []),
                           ("groupId=a&groupId=a", ["groupId"])):
        with pytest.raises(ParamsError) as refused:
            checked(QueryParams(query), allowed)
        assert refused.value.code is Code.INVALID_QUERY


def test_an_update_names_its_group_once() -> None:
    assert update_target(GROUP, {}) == GROUP
    assert update_target(None, {"groupId": GROUP}) == GROUP
    assert update_target(GROUP, {"groupId": GROUP}) == GROUP
    for path_id, query in ((GROUP, {"groupId": GROUP.upper()}), (None, {})):
        with pytest.raises(ParamsError) as refused:
            update_target(path_id, query)
        assert refused.value.code is Code.INVALID_GROUP_ID


def test_the_listings_parameters_are_checked_never_defaulted() -> None:
    assert list_query(QueryParams("")) == ListQuery(False, 50, None)
    assert list_query(QueryParams(f"includeInactive=true&limit=200&after={GROUP}")) == \
        ListQuery(True, 200, GROUP)
    for query in ("limit=0", "limit=201", "limit=-1", "limit=1.5", "limit=%C2%B2", "limit=",
                  "includeInactive=True", "includeInactive=1", "after=xyz", f"after={GROUP}0",
                  "groupId=" + GROUP, "limit=1&limit=1"):
        with pytest.raises(ParamsError) as refused:
            list_query(QueryParams(query))
        assert refused.value.code is Code.INVALID_QUERY, query
