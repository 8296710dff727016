"""Which dead letters `badges dlq replay` takes (pure: no Kafka)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from badges_schemas.results import DeadLetter
from service.cli.replay import Filters

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def letter(reason: str = "not JSON", topic: str = "b.badge-claims.v1",
           when: datetime | None = AT) -> DeadLetter:
    return DeadLetter(reason=reason, topic=topic, partition=0, offset=1,
                      timestamp=when.timestamp() if when else None, key=None, valueSize=1,
                      valueSha256="0" * 64, valuePreview="")


def test_no_filter_takes_every_letter() -> None:
    assert Filters().take(letter()) and Filters().names(None)


def test_each_filter_narrows() -> None:
    assert Filters(reason=re.compile("JSON")).take(letter())
    assert not Filters(reason=re.compile("^unknown")).take(letter())
    assert not Filters(topic="other").take(letter())
    assert Filters(since=AT, until=AT.replace(hour=13)).take(letter())
    assert not Filters(since=AT.replace(hour=13)).take(letter())
    assert not Filters(until=AT).take(letter())  # until is exclusive
    assert not Filters(since=AT).take(letter(when=None))  # no time: not in any range
    wanted = Filters(command_id="abc-123")
    assert wanted.names(b'{"commandId": "abc-123"}') and not wanted.names(b"{}")
    assert not wanted.names(None)
