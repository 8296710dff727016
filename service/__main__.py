"""`python -m service worker`: run the worker with the settings from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
from functools import partial
from typing import TYPE_CHECKING, Any

import typer

from badges_schemas import Topics
from service.logs import setup_logging
from service.secrets import masked_settings, redact_logs, redactor, secrets_of
from service.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:  # the worker's modules load only when it runs (the CLI stays quick)
    from service.worker.http import Listener

cli = typer.Typer(add_completion=False, help="Badge command service.")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"service: {exc}", err=True)
        raise typer.Exit(2) from None


def _logging(settings: Settings) -> dict[str, Any] | None:
    """Set up the log output, secrets masked; the logging_config for faust's worker."""
    secrets = secrets_of(settings.model_dump())
    logging_config = setup_logging(settings, redactor(secrets))
    redact_logs(secrets)  # whatever library would log them
    return logging_config


async def _prepare(settings: Settings) -> Listener | None:
    """The topics, while the HTTP endpoints already answer (live, not ready: waiting for
    Kafka); the listener, for Faust's endpoints to answer on once it starts.

    Every topic is created, and listed by the broker, before Faust subscribes: a topic Faust
    creates itself moments before subscribing can be missing from the consumer's metadata,
    leaving its partitions unassigned until the next refresh (minutes). A broker not up yet
    is waited for, as in any outage (Ctrl-C stops the wait). Faust's leader topic is left to
    Faust: when its LeaderAssignor starts, the producer's metadata lists no topics yet, so a
    pre-created one costs the same controller lookup and CreateTopics request (answered
    TOPIC_ALREADY_EXISTS); measured, not guessed.
    """
    from badges_sdk.kafka import ensure_topics
    from service.retry import retry
    from service.worker.http import Listener
    from service.worker.kafka import warn_if_retention_short

    topics = Topics(settings.topic_prefix)
    listener = None
    if settings.http_port != "off":
        listener = Listener("waiting for Kafka: creating the topics")
        await listener.start(settings)
    await retry(settings, "creating topics", partial(ensure_topics, settings, topics.all),
                operation="creating topics")
    await warn_if_retention_short(settings, sorted(set(topics.commands.values())))
    return listener


@cli.command()
def worker() -> None:
    """Consume badge commands, apply them to MongoDB, publish result events (Ctrl-C stops)."""
    from badges_sdk.kafka import EXIT_AUTH_FAILED, KafkaAuthError
    from service.worker.app import create_app
    from service.worker.metrics import START_RETRIES
    from service.worker.restart import ATTEMPT_VARIABLE, start_again_if_transient
    from service.worker.stop_bound import Worker

    settings = _settings()
    logging_config = _logging(settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        listener = loop.run_until_complete(_prepare(settings))
    except KafkaAuthError as exc:
        typer.echo(f"service: authentication failed: {exc}", err=True)
        raise typer.Exit(EXIT_AUTH_FAILED) from None
    app = create_app(settings, listener)
    # Starts of Faust that failed before this one: the count survives the in-process restart.
    START_RETRIES.inc(int(os.environ.get(ATTEMPT_VARIABLE, "0")))
    # In JSON, faust's console output (banner, spinner) would not be JSON: quiet.
    worker = Worker(app, loop=loop, loglevel=settings.log_level.lower(),
                    logging_config=logging_config, quiet=logging_config is not None,
                    stop_timeout=settings.stop_timeout_seconds)
    try:
        worker.execute_from_commandline()  # always ends in SystemExit
    except SystemExit as stopped:
        # Faust's own connections while it starts fail like ours in an outage: wait too.
        start_again_if_transient(settings, worker, stopped)
        raise


@cli.command()
def gateway() -> None:
    """Serve the Badges REST API on BADGES_GATEWAY_HOST:PORT through Kafka (Ctrl-C stops)."""
    from service.gateway.server import run

    settings = _settings()
    _logging(settings)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has stopped gracefully
        run(settings)


@cli.command("lag-exporter")
def lag_exporter() -> None:
    """Serve the workers' consumer-group lag, read from the broker, for Prometheus."""
    from service.exporter.server import serve

    settings = _settings()
    _logging(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


@cli.command()
def settings() -> None:
    """Print the effective settings (secrets masked)."""
    for name, value in masked_settings(_settings().model_dump()).items():
        typer.echo(f"BADGES_{name.upper()}={value}")


if __name__ == "__main__":
    cli()
