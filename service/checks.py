"""A readiness check of one dependency, bounded: the worker's and the gateway's probes."""

from __future__ import annotations

import asyncio
from typing import Any

CHECK_TIMEOUT = 2.0  # seconds; probes usually time out after 1 to 5 seconds


async def bounded(check: Any, timeout: float) -> str | None:
    try:
        await asyncio.wait_for(check, timeout)
    except TimeoutError:
        return f"no answer within {timeout}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None
