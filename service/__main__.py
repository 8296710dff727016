"""`python -m service worker`: run the worker with the settings from the environment."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from typing import Any

import typer

from badges_schemas import Topics
from service.logs import setup_logging
from service.secrets import masked_settings, redact_logs, redactor, secrets_of
from service.settings import Settings, SettingsError, load_settings

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


@cli.command()
def worker() -> None:
    """Consume badge commands, apply them to MongoDB, publish result events (Ctrl-C stops)."""
    from badges_sdk.kafka import EXIT_AUTH_FAILED, KafkaAuthError, ensure_topics
    from service.retry import retry
    from service.worker.app import create_app
    from service.worker.kafka import warn_if_retention_short
    from service.worker.restart import start_again_if_transient
    from service.worker.stop_bound import Worker

    settings = _settings()
    logging_config = _logging(settings)
    # Create every topic, and wait until the broker lists it, before Faust subscribes: a topic
    # Faust creates itself moments before subscribing can be missing from the consumer's
    # metadata, leaving its partitions unassigned until the next refresh (minutes).
    # A broker not up yet is waited for, as in any outage (Ctrl-C stops the wait).
    # Faust's leader topic is left to Faust: when its LeaderAssignor starts, the producer's
    # metadata lists no topics yet, so a pre-created one costs the same controller lookup
    # and CreateTopics request (answered TOPIC_ALREADY_EXISTS); measured, not guessed.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    topics = Topics(settings.topic_prefix)
    try:
        loop.run_until_complete(
            retry(settings, "creating topics", partial(ensure_topics, settings, topics.all),
                  operation="creating topics"))
    except KafkaAuthError as exc:
        typer.echo(f"service: authentication failed: {exc}", err=True)
        raise typer.Exit(EXIT_AUTH_FAILED) from None
    loop.run_until_complete(
        warn_if_retention_short(settings, sorted(set(topics.commands.values()))))
    app = create_app(settings)
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


@cli.command()
def settings() -> None:
    """Print the effective settings (secrets masked)."""
    for name, value in masked_settings(_settings().model_dump()).items():
        typer.echo(f"BADGES_{name.upper()}={value}")


if __name__ == "__main__":
    cli()
