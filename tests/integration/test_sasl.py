"""Kafka over SASL_SSL (SCRAM-SHA-512, a CA made by the test): the worker and the CLI work
through it, a wrong password ends them at once with one line and exit 78, and no secret is
printed anywhere (worker log at DEBUG, broker log, `python -m service settings`)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from bson import ObjectId

from badges_sdk.kafka import EXIT_AUTH_FAILED
from service.settings import Settings
from tests.infra.containers import Servers
from tests.infra.secured import MECHANISM, SecuredKafka, sasl_ssl_kafka
from tests.infra.worker import WorkerProcess
from tests.integration.test_cli import ORG, badges, claim_args

pytestmark = pytest.mark.integration

EXIT_TIMEOUT = 60  # a refused login must end the process well within this
MONGO_URL_WITH_PASSWORD = "mongodb://badges:mongo-pw@h1:27017/?tls=true"


@pytest.fixture(scope="module")
def secured(stack: Servers, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[SecuredKafka]:
    image = os.environ.get("BADGES_KAFKA_IMAGE", "")
    if "badges-kafka" not in image:
        # apache/kafka (the Docker path) formats its storage without --add-scram, and its
        # start script wants JKS/PKCS12 key stores with password files for "SSL" listeners.
        pytest.skip(f"needs the project's broker image, not {image or 'external servers'}: "
                    "run with BADGES_BUILD_IMAGES=1")
    with sasl_ssl_kafka(tmp_path_factory.mktemp("kafka-secrets")) as broker:
        yield broker


def secured_settings(stack: Servers, broker: SecuredKafka, password: str,
                     **overrides: object) -> Settings:
    namespace = f"t{uuid.uuid4().hex[:12]}"
    values: dict[str, object] = dict(
        kafka_bootstrap_servers=broker.bootstrap, kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=MECHANISM, kafka_sasl_username=broker.username,
        kafka_sasl_password=password, kafka_ssl_cafile=str(broker.ca_file),
        mongo_url=stack.mongo_url, mongo_database=f"test_{namespace}", topic_prefix=namespace,
        topic_partitions=1, kafka_session_timeout_seconds=6, retry_max_backoff_seconds=2,
        stop_timeout_seconds=5)
    return Settings(**{**values, **overrides})


def broker_log(broker: SecuredKafka) -> str:
    out, err = broker.container.get_logs()
    return (out + err).decode(errors="replace")


def settings_output(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "service", "settings"], env=env,
                          capture_output=True, text=True, timeout=EXIT_TIMEOUT, check=True)
    return done.stdout


async def test_worker_and_cli_work_over_sasl_ssl(stack: Servers, secured: SecuredKafka,
                                                 tmp_path: Path) -> None:
    settings = secured_settings(stack, secured, secured.password, log_level="DEBUG")
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        env, badge = worker.environment(), str(ObjectId())
        done = await badges(env, *claim_args("claim", badge))
        assert done.code == 0, done.err
        assert done.json()["orgId"] == ORG and done.json()["errors"] == []
        assert done.json()["data"] == {"badgeMetaId": badge, "ownerType": "Loyalty",
                                       "referenceId": "123"}
        again = await badges(env, *claim_args("unclaim", badge))
        assert again.code == 0 and again.json()["data"]["isActive"] is False, again.err
        shown = settings_output({**env, "BADGES_MONGO_URL": MONGO_URL_WITH_PASSWORD})
    finally:
        code = worker.stop()
    assert code == 0, worker.tail()
    assert "Authenticated as badges via SCRAM-SHA-512" in worker.log()
    assert "DEBUG" in worker.log()  # the libraries' most talkative level was on
    assert "BADGES_KAFKA_SASL_PASSWORD=***" in shown
    assert "BADGES_MONGO_URL=mongodb://badges:***@h1:27017/?tls=true" in shown
    assert "mongo-pw" not in shown
    for text in (worker.log(), shown, done.out + done.err, broker_log(secured)):
        assert secured.password not in text


def test_wrong_password_ends_the_worker_with_one_line(stack: Servers, secured: SecuredKafka,
                                                      tmp_path: Path) -> None:
    settings = secured_settings(stack, secured, "not-" + secured.password)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start(wait=False)
    assert worker.process is not None
    try:
        code = worker.process.wait(EXIT_TIMEOUT)
    finally:
        worker.kill()  # only if the wait above ran out
    # The HTTP endpoints answer from the first second (live, not ready), and say where;
    # besides that line, the failure is one line.
    lines = [line for line in worker.log().splitlines() if "HTTP endpoints on" not in line]
    assert code == EXIT_AUTH_FAILED, worker.tail()
    assert len(lines) == 1 and "Traceback" not in lines[0], worker.tail()
    assert lines[0].startswith("service: authentication failed: Kafka at "), lines[0]
    assert "SaslAuthenticationFailed" in lines[0] and "invalid credentials" in lines[0]
    assert secured.password not in lines[0] + broker_log(secured)  # a substring of the wrong one


async def test_wrong_password_ends_the_cli_with_one_line(stack: Servers, secured: SecuredKafka,
                                                         tmp_path: Path) -> None:
    settings = secured_settings(stack, secured, "not-" + secured.password)
    env = WorkerProcess(settings, tmp_path / "unused.log").environment()
    run = await badges(env, *claim_args("claim", str(ObjectId())))
    assert run.code == EXIT_AUTH_FAILED, run.err
    assert run.out == "" and len(run.err.splitlines()) == 1, run.err
    assert run.err.startswith("badges: authentication failed: Kafka at "), run.err
    assert "SaslAuthenticationFailed" in run.err
    assert secured.password not in run.err + broker_log(secured)  # a substring of the wrong one


async def test_untrusted_broker_certificate_ends_the_cli_with_one_line(
        stack: Servers, secured: SecuredKafka, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    settings = secured_settings(stack, secured, secured.password,
                                kafka_ssl_cafile=str(other_ca))
    env = WorkerProcess(settings, tmp_path / "unused.log").environment()
    run = await badges(env, *claim_args("claim", str(ObjectId())))
    assert run.code == EXIT_AUTH_FAILED, run.err
    assert run.out == "" and len(run.err.splitlines()) == 1, run.err
    assert "presented a certificate that is not trusted" in run.err
    assert "certificate verify failed" in run.err
