"""`python -m service worker`: run the worker with the settings from the environment."""

from __future__ import annotations

import logging

import typer

from service.settings import Settings

cli = typer.Typer(add_completion=False, help="Badge command service.")


@cli.command()
def worker() -> None:
    """Consume badge commands, apply them to MongoDB, publish result events (Ctrl-C stops)."""
    from faust import Worker

    from service.app import create_app

    settings = Settings()
    logging.basicConfig(level=settings.log_level)
    app = create_app(settings)
    Worker(app, loglevel=settings.log_level.lower()).execute_from_commandline()


@cli.command()
def settings() -> None:
    """Print the effective settings (secrets masked)."""
    for name, value in Settings().model_dump().items():
        shown = "***" if "password" in name and value else value
        typer.echo(f"BADGES_{name.upper()}={shown}")


if __name__ == "__main__":
    cli()
