"""faust's worker, with a bound on how long a stop may take, telling whether it started."""

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
        self._deadline: threading.Timer | None = None
        self.start_finished = False  # Faust finished starting: its agents run
        super().__init__(*args, **kwargs)

    @property
    def stop_requested(self) -> bool:
        """A signal (SIGTERM, Ctrl-C) asked the worker to stop."""
        return bool(self._signal_stop_time)

    async def on_started(self) -> None:
        # mode calls this once every child service (the app, its agents) has started; the
        # base class then waits here until the worker stops.
        self.start_finished = True
        await super().on_started()

    async def on_stop(self) -> None:
        # A thread, not a task: the event loop may be the thing that is stuck.
        self._deadline = threading.Timer(self._stop_timeout, self._exit_now)
        self._deadline.daemon = True
        self._deadline.start()
        await super().on_stop()

    def disarm(self) -> None:
        """Cancel the stop's deadline: the stop is over and the process carries on."""
        if self._deadline is not None:
            self._deadline.cancel()

    def _exit_now(self) -> None:
        log.error("the worker did not stop within %ss (work blocked by an outage?); exiting "
                  "now: its unacknowledged commands will be delivered again",
                  self._stop_timeout)
        logging.shutdown()
        os._exit(EXIT_STOP_TIMEOUT)
