"""The gateway's access log: one line per request, at INFO on `badges.gateway.access`.

Fields (JSON logs carry them as members): method, route (the template, as in the metrics:
`/api_gateway/v1/badges/group/{groupId}`, never the query string), status, durationMs and
the commandId the answer names. Never the credentials, a token or the body. Off with
BADGES_GATEWAY_ACCESS_LOG=false (each line costs some microseconds of the event loop).
"""

from __future__ import annotations

import logging

log = logging.getLogger("badges.gateway.access")

COMMAND_ID_HEADER = b"badges-command-id"


def command_id_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The commandId an answer's headers name, if any (ASGI header names are lower case)."""
    for name, value in headers:
        if name == COMMAND_ID_HEADER:
            return value.decode("latin-1")
    return None


def access(method: str, route: str, status: int, seconds: float, command_id: str | None
           ) -> None:
    duration_ms = round(seconds * 1000, 1)
    log.info("%s %s %d %.1f ms", method, route, status, duration_ms,
             extra={"method": method, "route": route, "status": status,
                    "durationMs": duration_ms, "commandId": command_id})
