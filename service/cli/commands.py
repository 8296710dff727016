"""badges: send badge commands, await their results, read the results and dead-letter topics.

Settings come from the BADGES_* environment variables (deploy/README.md); --bootstrap-servers and
--topic-prefix override theirs. Exit codes: 0 done, 1 the result carries errors, 2 bad
arguments (nothing was published), 3 no result within --timeout, 4 Kafka unreachable or a
network wait ran out, 78 authentication failed (Kafka refused the credentials or its
certificate is not trusted), 130 interrupted while waiting for a result. `status` exits 0
whenever it could read the consumer group, whatever the worker's readiness (which it prints).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from pydantic import TypeAdapter, ValidationError

from badges_schemas import CommandType, OwnerType, Topics
from badges_schemas.commands import ObjectIdStr
from badges_sdk.client import BadgesClient, OutgoingCommand, ResultTimeoutError
from badges_sdk.kafka import EXIT_AUTH_FAILED, KafkaAuthError
from service.cli.context import settings_of
from service.cli.credentials import clients_app, users_app
from service.cli.replay import Filters, replay
from service.cli.status import Status, status
from service.settings import Settings

EXIT_ERRORS, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 1, 3, 4, 130

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                  no_args_is_help=True, help=__doc__)
group_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                        help="Create and update badge groups.")
app.add_typer(group_app, name="group")
dlq_app = typer.Typer(rich_markup_mode=None, help="Dead-letter records: print them, or "
                                                    "send them again.")
app.add_typer(dlq_app, name="dlq")
app.add_typer(users_app, name="gateway-user")
app.add_typer(clients_app, name="gateway-client")


class CliError(Exception):
    """Ends the command with a one-line message on stderr and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _object_id(value: str) -> str:
    try:
        return TypeAdapter(ObjectIdStr).validate_python(value)
    except ValidationError:
        raise typer.BadParameter(f"{value!r} is not 24 hex digits") from None


OrgId = Annotated[int, typer.Option(help="Organisation (tenant) id.")]
ActorId = Annotated[int, typer.Option(help="User id of whoever issues the command.")]
BadgeId = Annotated[str, typer.Option(callback=_object_id, help="24-hex-digit badge id.")]
GroupId = Annotated[str, typer.Option(callback=_object_id, help="24-hex-digit group id.")]
Owner = Annotated[OwnerType, typer.Option(case_sensitive=True, help="Owner module.")]
ReferenceId = Annotated[str, typer.Option(help="The owner's id for the badge.")]
Name = Annotated[str, typer.Option(help="Group name, unique per org, case-sensitive.")]
Rank = Annotated[int | None, typer.Option(help="Group rank; omitted, rank is sent as null.")]
CommandId = Annotated[uuid.UUID | None, typer.Option(help="Idempotency key [default: new uuid4].")]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Publish only; print commandId, topic.")]
Timeout = Annotated[float, typer.Option(min=0, help="Seconds to wait for the result.")]
Follow = Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until Ctrl-C.")]
FromBeginning = Annotated[bool, typer.Option("--from-beginning/--from-end",
                                             help="Where to start reading.")]


@app.callback()
def options(ctx: typer.Context,
            bootstrap_servers: Annotated[str | None, typer.Option(
                help="Kafka bootstrap servers [default: BADGES_KAFKA_BOOTSTRAP_SERVERS].")] = None,
            topic_prefix: Annotated[str | None, typer.Option(
                help="Prefix of every topic name [default: BADGES_TOPIC_PREFIX].")] = None,
            ) -> None:
    ctx.obj = {"kafka_bootstrap_servers": bootstrap_servers, "topic_prefix": topic_prefix}


# -- commands ----------------------------------------------------------------------------

@app.command()
def claim(ctx: typer.Context, org_id: OrgId, actor_id: ActorId, badge_id: BadgeId,
          owner_type: Owner, reference_id: ReferenceId, command_id: CommandId = None,
          no_wait: NoWait = False, timeout: Timeout = 30.0) -> None:
    """Claim a badge for an owner module under one of its ids."""
    payload = _claim_payload(badge_id, owner_type, reference_id)
    outgoing = OutgoingCommand(CommandType.CLAIM_BADGE, org_id, actor_id, payload)
    _command(ctx, outgoing, command_id, no_wait, timeout)


@app.command()
def unclaim(ctx: typer.Context, org_id: OrgId, actor_id: ActorId, badge_id: BadgeId,
            owner_type: Owner, reference_id: ReferenceId, command_id: CommandId = None,
            no_wait: NoWait = False, timeout: Timeout = 30.0) -> None:
    """Soft-delete an owner's active claim of a badge."""
    payload = _claim_payload(badge_id, owner_type, reference_id)
    outgoing = OutgoingCommand(CommandType.UNCLAIM_BADGE, org_id, actor_id, payload)
    _command(ctx, outgoing, command_id, no_wait, timeout)


def _claim_payload(badge_id: str, owner_type: OwnerType, reference_id: str) -> dict[str, Any]:
    return {"badgeId": badge_id, "ownerType": str(owner_type), "referenceId": reference_id}


@group_app.command("create")
def create_group(ctx: typer.Context, org_id: OrgId, actor_id: ActorId, name: Name,
                 rank: Rank = None, command_id: CommandId = None, no_wait: NoWait = False,
                 timeout: Timeout = 30.0) -> None:
    """Create a badge group."""
    outgoing = OutgoingCommand(CommandType.CREATE_BADGE_GROUP, org_id, actor_id,
                        {"name": name, "rank": rank})
    _command(ctx, outgoing, command_id, no_wait, timeout)


@group_app.command("update")
def update_group(ctx: typer.Context, org_id: OrgId, actor_id: ActorId, group_id: GroupId,
                 name: Name, rank: Rank = None, command_id: CommandId = None,
                 no_wait: NoWait = False, timeout: Timeout = 30.0) -> None:
    """Rename and re-rank a badge group."""
    outgoing = OutgoingCommand(CommandType.UPDATE_BADGE_GROUP, org_id, actor_id,
                        {"groupId": group_id, "name": name, "rank": rank})
    _command(ctx, outgoing, command_id, no_wait, timeout)


def _command(ctx: typer.Context, outgoing: OutgoingCommand, command_id: uuid.UUID | None,
             no_wait: bool, timeout: float) -> None:
    settings = settings_of(ctx)
    deliver = _deliver(settings, outgoing, str(command_id or uuid.uuid4()), no_wait, timeout)
    raise typer.Exit(_run(settings, deliver, interrupted=EXIT_INTERRUPTED))


async def _deliver(settings: Settings, outgoing: OutgoingCommand, command_id: str, no_wait: bool,
                   timeout: float) -> int:
    async with _client(settings, read_results=not no_wait) as client:
        topic = client.topics.command(outgoing.command_type)
        await client.send(outgoing.command_type, outgoing.org_id, outgoing.actor_id,
                          outgoing.payload, command_id=command_id)
        if no_wait:
            typer.echo(json.dumps({"commandId": command_id, "topic": topic}))
            return 0
        try:
            result = await client.result(command_id, timeout)
        except ResultTimeoutError as exc:
            raise CliError(EXIT_TIMEOUT, f"{exc} (published to {topic}; is a worker running?)"
                          ) from None
        typer.echo(result.model_dump_json(indent=2))
        return 0 if result.ok else EXIT_ERRORS


@asynccontextmanager
async def _client(settings: Settings, read_results: bool) -> AsyncIterator[BadgesClient]:
    client = BadgesClient(settings)
    try:
        await client.start(read_results)
        yield client
    finally:
        await client.stop()


# -- reading -----------------------------------------------------------------------------

@app.command()
def results(ctx: typer.Context, follow: Follow = False, from_beginning: FromBeginning = True
            ) -> None:
    """Print result events as JSON lines (without --follow: up to the current end)."""
    _print_topic(ctx, lambda topics: topics.results, follow, from_beginning)


@dlq_app.callback(invoke_without_command=True)
def dlq(ctx: typer.Context, follow: Follow = False, from_beginning: FromBeginning = True
        ) -> None:
    """Print dead-letter records as JSON lines (without --follow: up to the current end);
    `badges dlq replay` sends them again."""
    if ctx.invoked_subcommand is None:
        _print_topic(ctx, lambda topics: topics.dead_letters, follow, from_beginning)


@dlq_app.command("replay")
def dlq_replay(
        ctx: typer.Context,
        reason: Annotated[str | None, typer.Option(help="Only letters whose reason matches "
                                                        "this regular expression.")] = None,
        topic: Annotated[str | None, typer.Option(help="Only letters from this topic.")] = None,
        since: Annotated[datetime | None, typer.Option(help="Only letters of messages from "
                                                            "this time on (ISO 8601).")] = None,
        until: Annotated[datetime | None, typer.Option(help="Only those before this time.")
                         ] = None,
        command_id: Annotated[str | None, typer.Option(help="Only the message naming this "
                                                            "commandId.")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be sent; "
                                                                "send nothing.")] = False,
) -> None:
    """Send dead-lettered messages again: the original bytes and key, to their topic, with a
    header saying it is a replay. Safe to run twice: a command already answered is answered
    again from the command log, never applied twice. A JSON line per letter; exit 1 if
    some could not be sent (the topic no longer holds them)."""
    settings = settings_of(ctx)
    try:
        pattern = re.compile(reason) if reason is not None else None
    except re.error as exc:
        raise typer.BadParameter(str(exc), param_hint="--reason") from None
    filters = Filters(pattern, topic, _aware(since), _aware(until), command_id)
    raise typer.Exit(_run(settings, _replay(settings, filters, dry_run), interrupted=130))


def _aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is UTC (as the worker's logs and timestamps are)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


async def _replay(settings: Settings, filters: Filters, dry_run: bool) -> int:
    outcomes = Counter[str]()
    async for replayed in replay(settings, filters, dry_run):
        typer.echo(replayed.json())
        outcomes[replayed.outcome] += 1
    typer.echo(f"badges: {dict(outcomes) or 'no dead letter matched'}", err=True)
    return 1 if any(o.startswith("not sent") for o in outcomes) else 0


def _print_topic(ctx: typer.Context, topic_of: Callable[[Topics], str], follow: bool,
                 from_beginning: bool) -> None:
    settings = settings_of(ctx)
    reading = _print_records(settings, topic_of(Topics(settings.topic_prefix)), follow,
                             from_beginning)
    raise typer.Exit(_run(settings, reading, interrupted=0))


async def _print_records(settings: Settings, topic: str, follow: bool, from_beginning: bool
                         ) -> int:
    client = BadgesClient(settings, from_beginning=from_beginning)
    async for record in client.records(topic, follow):
        typer.echo(_json_line(record))
    return 0


def _json_line(record: ConsumerRecord) -> str:
    try:
        return json.dumps(json.loads(record.value))
    except (TypeError, ValueError):  # not JSON: show where it is and what it holds
        text = (record.value or b"").decode("utf-8", "replace")
        return json.dumps({"partition": record.partition, "offset": record.offset,
                           "notJson": text})


# -- operating ---------------------------------------------------------------------------

WorkerUrl = Annotated[str, typer.Option(
    help="The worker's HTTP endpoints, whose /readyz is asked; empty: do not ask.")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")]


@app.command("status")
def status_command(ctx: typer.Context, worker_url: WorkerUrl = "http://127.0.0.1:8081",
                   as_json: AsJson = False) -> None:
    """The workers' consumer group, each command partition's committed offset, end offset
    and lag, and whether the worker at --worker-url is ready. Exit code 0 whenever the group
    could be read (readiness is in the output), 4 when Kafka is unreachable."""
    settings = settings_of(ctx)
    raise typer.Exit(_run(settings, _show_status(settings, worker_url or None, as_json),
                          interrupted=EXIT_INTERRUPTED))


async def _show_status(settings: Settings, worker_url: str | None, as_json: bool) -> int:
    found = await status(settings, worker_url)
    typer.echo(json.dumps(found.to_json(), indent=2) if as_json else "\n".join(status_lines(found)))
    return 0


def status_lines(found: Status) -> list[str]:
    held = {(t, n) for m in found.members for t, ns in m.partitions.items() for n in ns}
    assigned = sum((p.topic, p.partition) in held for p in found.partitions)
    lines = [f"Consumer group {found.group}: {found.state}, {len(found.members)} member(s), "
             f"{assigned} of {len(found.partitions)} command partitions assigned"]
    if found.members:
        lines += _table(["MEMBER", "CLIENT", "HOST", "PARTITIONS"], [
            [m.member_id, m.client_id, m.host,
             " ".join(f"{t}[{','.join(map(str, ns))}]" for t, ns in m.partitions.items()) or "-"]
            for m in found.members])
    lines.append("")
    lines += _table(["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"], [
        [p.topic, str(p.partition), "-" if p.committed is None else str(p.committed),
         str(p.end), str(p.lag)] for p in found.partitions])
    lines.append(f"Total lag: {found.total_lag}")
    lines += [f"Missing topic: {topic} (no worker has started yet)"
              for topic in found.missing_topics]
    if found.worker is not None:
        detail = "" if found.worker.detail is None else f" {json.dumps(found.worker.detail)}"
        lines.append(f"Worker {found.worker.url}: {found.worker.status}{detail}")
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Rows as left-aligned columns, two spaces apart."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]]


# -- running -----------------------------------------------------------------------------

def _run(settings: Settings, work: Coroutine[Any, Any, int], interrupted: int) -> int:
    """Run `work`; turn the expected failures into a one-line message and an exit code."""
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        return interrupted
    except BrokenPipeError:  # the reader went away (`badges results | head`): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except CliError as exc:
        typer.echo(f"badges: {exc}", err=True)
        return exc.code
    except KafkaAuthError as exc:
        typer.echo(f"badges: authentication failed: {exc}", err=True)
        return EXIT_AUTH_FAILED
    except (KafkaError, OSError, TimeoutError) as exc:
        detail = " ".join((str(exc) or type(exc).__name__).split())
        typer.echo(f"badges: Kafka at {settings.kafka_bootstrap_servers} is unreachable or did "
                   f"not answer within {settings.network_timeout_seconds}s ({detail})", err=True)
        return EXIT_UNREACHABLE


def main() -> None:
    logging.basicConfig(level=logging.CRITICAL)  # library chatter would bury the one-line errors
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling began
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
