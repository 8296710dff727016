"""When the worker starts Faust again after its start failed, and how long it waits first."""

from __future__ import annotations

import logging
import ssl
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import errors as kafka_errors

from badges_sdk.kafka import KafkaAuthError
from service.retry import backoff
from service.settings import Settings
from service.worker import restart
from service.worker.restart import (
    ATTEMPT_VARIABLE,
    COMMAND,
    start_again_if_transient,
    worth_restarting,
)
from service.worker.stop_bound import Worker

SETTINGS = Settings(retry_initial_backoff_seconds=0.5, retry_max_backoff_seconds=3)


@pytest.mark.parametrize("failure", [
    kafka_errors.NodeNotReadyError("Attempt to send a request to node which is not ready"),
    kafka_errors.KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]"),
    kafka_errors.KafkaTimeoutError(),
    kafka_errors.RequestTimedOutError(),
    ConnectionRefusedError(111, "Connect call failed"),
    OSError(113, "No route to host"),
    TimeoutError(),
])
def test_network_faults_are_worth_a_restart(failure: BaseException) -> None:
    assert worth_restarting(failure)


@pytest.mark.parametrize("failure", [
    kafka_errors.SaslAuthenticationFailed("bad password"),
    kafka_errors.AuthenticationFailedError(),
    kafka_errors.TopicAuthorizationFailedError(),
    kafka_errors.GroupAuthorizationFailedError(),
    kafka_errors.ClusterAuthorizationFailedError(),
    ssl.SSLCertVerificationError("certificate verify failed"),
    KafkaAuthError("refused"),
    ValueError("Topic name 'x...' is too long"),  # a setting
    RuntimeError("Invalid controller: 1"),
    None,  # no exception behind the exit: nothing to judge
])
def test_failures_that_would_come_back_are_not(failure: BaseException | None) -> None:
    assert not worth_restarting(failure)


def test_the_backoff_doubles_from_the_initial_one_up_to_the_cap() -> None:
    assert [backoff(SETTINGS, n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff(SETTINGS, 10_000) == 3.0  # a long outage does not overflow


class Calls:
    """Records the process replacement and the wait instead of doing them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.execs: list[tuple[str, list[str]]] = []
        self.sleeps: list[float] = []
        monkeypatch.setattr(restart.os, "execv", lambda path, args: self.execs.append(
            (path, args)))
        monkeypatch.setattr(restart.time, "sleep", self.sleeps.append)
        monkeypatch.setattr(logging, "shutdown", lambda: None)  # pytest's handlers stay


def fake_worker(start_finished: bool = False, stop_requested: bool = False) -> Worker:
    disarmed: list[bool] = []
    fake = SimpleNamespace(start_finished=start_finished, stop_requested=stop_requested,
                           disarm=lambda: disarmed.append(True), disarmed=disarmed)
    return cast(Worker, fake)


def failed_exit(failure: BaseException, code: Any = 1) -> SystemExit:
    """The SystemExit of mode's `exiting`: raised while handling `failure`."""
    stopped = SystemExit(code)
    stopped.__context__ = failure
    return stopped


def test_a_transient_start_failure_re_executes_the_worker_after_a_growing_backoff(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = Calls(monkeypatch)
    monkeypatch.setenv(ATTEMPT_VARIABLE, "2")
    worker = fake_worker()
    start_again_if_transient(SETTINGS, worker,
                             failed_exit(kafka_errors.NodeNotReadyError("node 1")))
    assert calls.sleeps == [2.0] and calls.execs == [(COMMAND[0], COMMAND)]
    assert COMMAND[1:] == ["-m", "service", "worker"]
    assert restart.os.environ[ATTEMPT_VARIABLE] == "3"
    assert cast(Any, worker).disarmed == [True]  # the stop deadline cannot end the wait
    assert "Faust's start failed (NodeNotReadyError('node 1')): starting again in 2.0s" \
        in caplog.text


@pytest.mark.parametrize(("worker", "stopped"), [
    (fake_worker(start_finished=True), failed_exit(kafka_errors.KafkaConnectionError())),
    (fake_worker(stop_requested=True), failed_exit(kafka_errors.KafkaConnectionError())),
    (fake_worker(), failed_exit(kafka_errors.SaslAuthenticationFailed())),
    (fake_worker(), failed_exit(kafka_errors.KafkaConnectionError(), code=0)),
    (fake_worker(), SystemExit(1)),
], ids=["after-faust-started", "stop-asked", "refused-login", "clean-exit", "no-failure"])
def test_other_exits_are_left_to_end_the_process(
    monkeypatch: pytest.MonkeyPatch, worker: Worker, stopped: SystemExit
) -> None:
    calls = Calls(monkeypatch)
    monkeypatch.delenv(ATTEMPT_VARIABLE, raising=False)
    start_again_if_transient(SETTINGS, worker, stopped)
    assert calls.execs == [] and calls.sleeps == []
    assert cast(Any, worker).disarmed == []
