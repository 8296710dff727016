"""The Faust app: one agent on the command topics, feeding batches to the handler."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from typing import Any, cast

import faust

from badges_schemas import CommandType, Topics, parse
from service.retry import retry
from service.settings import Settings
from service.store.epochs import EpochTable
from service.worker import metrics
from service.worker.consumer import LedgerApp
from service.worker.faults import DeadLetteredTypes, DroppedDeliveries
from service.worker.handler import Incoming, Origin, Stored, store_batch
from service.worker.http import Endpoints, Listener
from service.worker.pipeline import BatchPipeline
from service.worker.runtime import Runtime

log = logging.getLogger(__name__)

# Claim and unclaim act on the same claims, so they share a topic: Kafka orders messages
# only within one partition of one topic.
TOPIC_TYPES: dict[CommandType, frozenset[CommandType]] = {
    CommandType.CLAIM_BADGE: frozenset({CommandType.CLAIM_BADGE, CommandType.UNCLAIM_BADGE}),
    CommandType.CREATE_BADGE_GROUP: frozenset({CommandType.CREATE_BADGE_GROUP}),
    CommandType.UPDATE_BADGE_GROUP: frozenset({CommandType.UPDATE_BADGE_GROUP}),
}


def create_app(settings: Settings, listener: Listener | None = None) -> LedgerApp:
    metrics.export()
    app = LedgerApp(
        settings.app_id,
        broker=[f"kafka://{h}" for h in settings.kafka_bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store="memory://",
        # Faust wants a data folder even with in-memory tables; keep it out of the cwd.
        datadir=os.path.join(tempfile.gettempdir(), f"faust-{settings.app_id}"),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        # Bounds each connect and request of faust's own clients (faust's default: 90 s).
        # A connect to a restarting broker can hang until the kernel gives up (about a
        # minute, then EHOSTUNREACH), and while it does the consumer's metadata, and so its
        # fetches, commits and coordinator, wait: chaos runs answered nothing for a minute.
        # faust wants it no shorter than the session timeout.
        broker_request_timeout=request_timeout(settings),
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_seconds / 3),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        producer_acks=-1,
    )
    runtime = Runtime(settings)
    app.service(cast(Any, runtime))  # faust accepts an instance; its stubs say class

    @app.on_partitions_assigned.connect
    async def assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        runtime.assigned()
        metrics.REBALANCES.inc()
        # faust sends the whole new assignment (an eager rebalance), as the first argument.
        metrics.PARTITIONS_HELD.set(len(args[0] if args else kwargs.get("assigned", ())))

    if settings.http_port != "off":
        app.service(cast(Any, Endpoints(settings, app, runtime, listener)))
    topics = Topics(settings.topic_prefix)
    _add_agent(app, runtime, "commands", {topics.command(topic_type): accepted
                                          for topic_type, accepted in TOPIC_TYPES.items()})
    return app


def request_timeout(settings: Settings) -> float:
    return max(settings.network_timeout_seconds, settings.kafka_session_timeout_seconds)


def _credentials(settings: Settings) -> Any:
    from badges_sdk.kafka import connection_options

    options = connection_options(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism, ssl_context=options.get("ssl_context"),
        )
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return None


def _add_agent(app: LedgerApp, runtime: Runtime, name: str,
               accepted: dict[str, frozenset[CommandType]]) -> None:
    """One agent for every command topic, so that a batch holds whatever has arrived: a
    pipeline of its own for each topic made many batches of one group command each, every
    one with all of a batch's round trips to the database."""
    settings = runtime.settings
    # internal=True: Faust creates the topics, with our partition count, before subscribing.
    topic = app.topic(*accepted, internal=True, key_serializer="raw", value_serializer="raw")
    drops = {t: DroppedDeliveries(settings.drop_deliveries) for t in accepted}
    doomed = DeadLetteredTypes(settings.dead_letter_types)

    async def store(events: Sequence[Any]) -> Stored:
        # No round trip but the first after an assignment.
        epochs = {t: await runtime.epochs(t) for t in {e.message.topic for e in events}}
        batch = [_incoming(e, accepted[e.message.topic], epochs[e.message.topic], doomed)
                 for e in events]
        return await store_batch(batch, await runtime.ready())

    async def mark_done(keys: Sequence[str]) -> None:
        await (await runtime.ready()).mark_done(keys)

    async def process(stream: Any) -> None:
        await retry(settings, "connecting", runtime.ready, operation="connecting")
        consumer = app.ledger_consumer
        # Offsets are acknowledged by the pipeline once effects are durable and results
        # sent; what is committed is what the consumer's ledger saw finished, in order.
        manual = stream.noack()

        async def finished(event: Any) -> None:
            consumer.finished(event.message)
            await manual.ack(event)

        pipeline = BatchPipeline(settings, name, store, runtime.publish, mark_done,
                                 finished)
        try:
            async for event in manual.events():
                message = event.message
                if drops[message.topic].drop(message.partition, message.offset):
                    log.warning("%s[%d] offset %d: dropped a delivery (test switch)",
                                message.topic, message.partition, message.offset)
                    consumer.let_go(message)
                    continue
                if await consumer.admit(message):
                    await pipeline.put(event)
        finally:
            await pipeline.close()

    app.agent(topic, name=name, concurrency=1)(process)


def _incoming(event: Any, accepted: frozenset[CommandType], epochs: EpochTable,
              doomed: DeadLetteredTypes) -> Incoming:
    message = event.message
    return Incoming(
        message=doomed.spoil(parse(message.value, accepted)),
        key=message.key,
        value=message.value,
        origin=Origin(message.topic, message.partition, message.offset, message.timestamp,
                      epochs.of(message.partition, message.offset)),
    )
