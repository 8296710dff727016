"""Start the worker again when Faust's own start failed on a fault that may pass.

Our start-up step (the topics) retries in the process, but Faust then makes connections
of its own while it starts (producer and consumer bootstrap, the leader topic), and mode
ends the process on any error there. A Faust app cannot be started twice in one process,
so the worker replaces itself with a fresh run of the same command (os.execv): the PID
stays (PID 1 in a container; a supervisor or a test tracking it sees no exit), and the
attempt count travels in the environment so that the backoff grows and caps as `retry`'s.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from badges_sdk.kafka import passing_fault
from service.retry import backoff
from service.settings import Settings
from service.worker.stop_bound import Worker

log = logging.getLogger(__name__)

# How many starts in a row have failed so far (set for the re-executed process only).
ATTEMPT_VARIABLE = "BADGES_START_FAILURES"
COMMAND = [sys.executable, "-m", "service", "worker"]

def worth_restarting(failure: BaseException | None) -> bool:
    """Whether a start that failed with `failure` may succeed if tried again.

    Anything else (bad settings, a bug, an error of unknown kind) keeps mode's exit.
    """
    return passing_fault(failure)


def start_again_if_transient(settings: Settings, worker: Worker, stopped: SystemExit) -> None:
    """Replace this process with a fresh worker if Faust's start failed on a passing fault.

    Returns (the caller lets `stopped` end the process) for a clean exit, a stop asked for
    by a signal, a crash after Faust had started (the supervisor's business, as before),
    and failures that would come back.
    """
    failure = stopped.__context__  # mode's sys.exit runs in the except block of the error
    if (stopped.code in (0, None) or worker.start_finished or worker.stop_requested
            or not worth_restarting(failure)):
        return
    worker.disarm()  # the stop is done: its deadline must not end the wait below
    failures = int(os.environ.get(ATTEMPT_VARIABLE, "0"))
    delay = backoff(settings, failures)
    log.warning("Faust's start failed (%.500r): starting again in %.1fs", failure, delay)
    logging.shutdown()  # flush the log: exec drops whatever is still buffered
    try:
        time.sleep(delay)  # the event loop is closed: nothing else runs meanwhile
    except KeyboardInterrupt:
        return  # Ctrl-C stops the wait, as it stops the topic step's
    os.environ[ATTEMPT_VARIABLE] = str(failures + 1)
    os.execv(COMMAND[0], COMMAND)
