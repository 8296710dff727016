"""The reading process of the SDK benchmark: a BadgesClient reads the results topic from its
beginning (foreign results only) and reports its own RSS at two marks, as one JSON line.

    python -m tests.benchmarks.sdk_reader MARK [MARK ...]   (BADGES_* variables: the namespace)

Run by tests/benchmarks/sdk.py in a process of its own, so the memory measured is the
client's, not that of the producer that wrote the results. After the last mark, one command
of its own is sent and its result written by hand: a registered wait must still answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bson import ObjectId
from tqdm import tqdm

from badges_sdk.client import BadgesClient
from service.settings import Settings

POLL_SECONDS = 0.01  # how often the read count is looked at: the marks land within a batch
STALL_SECONDS = 60  # no record read for this long: the topic is shorter than the last mark


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def read(marks: list[int]) -> dict[str, Any]:
    measured: list[dict[str, Any]] = []
    async with BadgesClient(Settings(), from_beginning=True) as client:
        started = time.perf_counter()
        last, last_change = 0, time.monotonic()
        with tqdm(total=marks[-1], desc="SDK reads foreign results", unit="result",
                  unit_scale=True, file=sys.stderr) as bar:
            for mark in marks:
                while (stats := client.replies.stats())["read"] < mark:
                    if not client.reading:
                        raise RuntimeError("the client's reader stopped")
                    if stats["read"] != last:
                        bar.update(stats["read"] - last)
                        last, last_change = stats["read"], time.monotonic()
                    elif time.monotonic() - last_change > STALL_SECONDS:
                        raise TimeoutError(f"read {last:,} results, expected {mark:,}")
                    await asyncio.sleep(POLL_SECONDS)
                measured.append({"mark": mark, "rss_mib": round(rss_mib(), 2),
                                 "seconds": round(time.perf_counter() - started, 1), **stats})
            bar.update(stats["read"] - last)
        return {"marks": measured, "own_wait_answered": await own_wait(client),
                "limits": vars(client.replies.limits)}


async def own_wait(client: BadgesClient) -> bool:
    """A command of its own after the flood: its result (written here, there is no worker)
    must still answer the wait."""
    command_id = await client.claim(1, 1, str(ObjectId()), "Loyalty", "own")
    answer = {"commandId": command_id, "type": "ClaimBadge", "orgId": 1, "errors": [],
              "warnings": [], "data": {"badgeMetaId": "b", "ownerType": "Loyalty",
                                       "referenceId": "own"}}
    await client.send_raw(client.topics.results, json.dumps(answer).encode(),
                          uuid.uuid4().hex.encode())
    result = await client.result(command_id, timeout=60, org_id=1)
    return result.commandId == command_id


def main() -> None:
    marks = sorted(int(m) for m in sys.argv[1:])
    print(json.dumps(asyncio.run(read(marks))), flush=True)


if __name__ == "__main__":
    main()
