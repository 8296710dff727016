"""The settings a CLI command runs with: the environment's, with the global options over
them (`badges --bootstrap-servers ... <command>`)."""

from __future__ import annotations

import getpass
import sys

import typer

from service.settings import Settings, SettingsError, load_settings


def settings_of(ctx: typer.Context) -> Settings:
    overrides = {name: value for name, value in (ctx.obj or {}).items() if value is not None}
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"badges: {exc}", err=True)
        raise typer.Exit(2) from None


def secret_from_stdin(what: str, prompt: str) -> str:
    """A password or secret: prompted on a terminal, else the first line of stdin; an
    empty one ends the command (exit 2)."""
    if sys.stdin.isatty():
        value = getpass.getpass(prompt)
    else:
        value = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not value:
        typer.echo(f"badges: empty {what} refused (give it on standard input)", err=True)
        raise typer.Exit(2)
    return value
