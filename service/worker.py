"""faust's worker, with a bound on how long a stop may take."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import faust

log = logging.getLogger(__name__)

# Not 0 (a clean stop) and not a signal's 128+n: the stop ran out of time.
EXIT_STOP_TIMEOUT = 75


class Worker(faust.Worker):
    """Stops gracefully, or exits after `stop_timeout` seconds as if killed.

    faust waits for the events in flight before it stops (stream_wait_empty), which keeps
    per-entity order across rebalances. But a batch blocked by a MongoDB or Kafka outage is
    retried until the outage ends, so a stop would wait as long, ignoring SIGTERM. Exiting
    instead is safe: nothing is acknowledged before it is durable and published, so the
    uncommitted commands are delivered again and the command log applies each once.
    """

    def __init__(self, *args: Any, stop_timeout: float, **kwargs: Any) -> None:
        self._stop_timeout = stop_timeout
        super().__init__(*args, **kwargs)

    async def on_stop(self) -> None:
        # A thread, not a task: the event loop may be the thing that is stuck.
        deadline = threading.Timer(self._stop_timeout, self._exit_now)
        deadline.daemon = True
        deadline.start()
        await super().on_stop()

    def _exit_now(self) -> None:
        log.error("the worker did not stop within %ss (work blocked by an outage?); exiting "
                  "now: its unacknowledged commands will be delivered again",
                  self._stop_timeout)
        logging.shutdown()
        os._exit(EXIT_STOP_TIMEOUT)
