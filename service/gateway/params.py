"""A request's query parameters, checked, and where an update's groupId comes from.

The API's update page spells one call several ways (../shared/reference/badges-api.md):
`POST .../group/{groupId}`, `PUT` on it, `groupId` as a query parameter, and a path
without `group/`. Each must update that group, so the id may come from the path or from the
query, and a request whose spellings disagree (two different ids, an id twice, a parameter
no route knows) is refused: a parameter that was ignored could turn an update into a
create.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from badges_schemas import Code

GROUP_ID = "groupId"
OBJECT_ID_TEXT = "[0-9a-fA-F]{24}"


class ParamsError(ValueError):
    """A request refused for its parameters, answered 400 with `code`; nothing published."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def checked(query: QueryParams, allowed: Iterable[str]) -> dict[str, str]:
    """The query's parameters, each once and each one this route knows."""
    known = set(allowed)
    names = [name for name, _ in query.multi_items()]
    unknown = sorted({name for name in names if name not in known})
    if unknown:
        expected = ", ".join(sorted(known)) or "none"
        raise ParamsError(Code.INVALID_QUERY, f"unknown query parameter {', '.join(unknown)}"
                                              f" (this path takes: {expected})")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ParamsError(Code.INVALID_QUERY, f"query parameter {', '.join(repeated)} "
                                              "given more than once")
    return dict(query.items())


def update_target(path_id: str | None, query: dict[str, str]) -> str:
    """The group an update is about: the path's id or the query's, which agree if both."""
    query_id = query.get(GROUP_ID)
    if path_id is not None and query_id is not None and path_id != query_id:
        raise ParamsError(Code.INVALID_GROUP_ID, f"{GROUP_ID}: the path says {path_id!r}, "
                                                 f"the query {query_id!r}")
    group_id = path_id if path_id is not None else query_id
    if group_id is None:
        raise ParamsError(Code.INVALID_GROUP_ID, f"{GROUP_ID}: required, in the path "
                                                 "(.../group/{groupId}) or the query")
    return group_id


# GET .../group: the listing's parameters.
INCLUDE_INACTIVE = "includeInactive"
LIMIT = "limit"
AFTER = "after"
LIST_PARAMS = (INCLUDE_INACTIVE, LIMIT, AFTER)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
BOOLEANS = {"true": True, "false": False}


@dataclass(frozen=True)
class ListQuery:
    include_inactive: bool = False
    limit: int = DEFAULT_LIMIT
    after: str | None = None  # the last groupId of the page before


def list_query(query: QueryParams) -> ListQuery:
    """The listing's parameters, each checked: a bad one is refused, never defaulted."""
    given = checked(query, LIST_PARAMS)
    flag = given.get(INCLUDE_INACTIVE, "false")
    if flag not in BOOLEANS:
        raise ParamsError(Code.INVALID_QUERY, f"{INCLUDE_INACTIVE}: true or false, not {flag!r}")
    limit = given.get(LIMIT, str(DEFAULT_LIMIT))
    if re.fullmatch("[0-9]{1,4}", limit) is None or not 1 <= int(limit) <= MAX_LIMIT:
        raise ParamsError(Code.INVALID_QUERY, f"{LIMIT}: a whole number from 1 to {MAX_LIMIT}, "
                                              f"not {limit!r}")
    after = given.get(AFTER)
    if after is not None and re.fullmatch(OBJECT_ID_TEXT, after) is None:
        raise ParamsError(Code.INVALID_QUERY, f"{AFTER}: a groupId (24 hex digits) from the "
                                              f"page before, not {after!r}")
    return ListQuery(BOOLEANS[flag], int(limit), after)
