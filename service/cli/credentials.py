"""`badges gateway-user add` and `badges gateway-client add`: who may call the REST gateway
(BADGES_GATEWAY_USERS_FILE), with which access rights. Secrets come from standard input
(or a prompt on a terminal) and only their argon2id hashes are written."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from service.cli.context import secret_from_stdin, settings_of
from service.gateway.users import Rights, add_client, add_user, parse_rights

users_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                        help="Users of the REST gateway (HTTP Basic).")
clients_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                          help="API clients of the REST gateway (OAuth access tokens).")

OrgId = Annotated[int, typer.Option(help="Organisation (tenant) id.")]
UserId = Annotated[int, typer.Option(help="User id in createdBy / lastUpdatedBy.")]
AccessSpecs = Annotated[list[str] | None, typer.Option(
    "--access", help='GROUP=LEVEL, repeatable: GROUP "Target Groups" (the badges APIs), '
                     '"Transaction" or "All"; LEVEL None, View or Modify.')]


def _rights(specs: list[str] | None) -> Rights | None:
    if specs is None:
        return None
    try:
        return parse_rights(specs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--access") from None


def _described(rights: Rights | None) -> str:
    if rights is None:
        return "Modify on every resource group"
    return ", ".join(f"{g}={a}" for g, a in rights.items()) or "no access"


@users_app.command("add")
def add_gateway_user(
        ctx: typer.Context,
        name: Annotated[str, typer.Option(help="User name of the HTTP Basic credentials.")],
        org_id: OrgId, user_id: UserId, access: AccessSpecs = None) -> None:
    """Add a user (password on standard input), or replace the one of that name. Without
    --access, the user has Modify on every resource group (as every user had before)."""
    path = Path(settings_of(ctx).gateway_users_file)
    rights = _rights(access)
    password = secret_from_stdin("password", f"password for {name}: ")
    try:
        replaced = add_user(path, name, password, org_id, user_id, rights)
    except (OSError, ValueError) as exc:
        typer.echo(f"badges: cannot write {path}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{'replaced' if replaced else 'added'} user {name} (org {org_id}, "
               f"user {user_id}; {_described(rights)}) in {path}")


@clients_app.command("add")
def add_gateway_client(
        ctx: typer.Context, org_id: OrgId, user_id: UserId, access: AccessSpecs = None,
        key: Annotated[str | None, typer.Option(help="The client's key (default: a new "
                                                     "random one, printed).")] = None,
        token_ttl: Annotated[int, typer.Option(help="Seconds an access token lasts.",
                                               min=30, max=86_400)] = 300) -> None:
    """Add an API client (secret on standard input), or replace the one with that key.
    Without --access it has none (the platform's default): give at least
    --access "Target Groups=Modify" for the badges APIs."""
    path = Path(settings_of(ctx).gateway_users_file)
    key = key or secrets.token_hex(16)
    rights = _rights(access) or {}
    secret = secret_from_stdin("secret", f"secret for client {key}: ")
    try:
        replaced = add_client(path, key, secret, org_id, user_id, rights, token_ttl)
    except (OSError, ValueError) as exc:
        typer.echo(f"badges: cannot write {path}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{'replaced' if replaced else 'added'} API client {key} (org {org_id}, user "
               f"{user_id}; {_described(rights)}; tokens last {token_ttl}s) in {path}")
