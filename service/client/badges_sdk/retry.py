"""Backoff between attempts, and the failure that no attempt can fix."""

from __future__ import annotations

from badges_sdk.settings import KafkaSettings


class PermanentError(Exception):
    """A failure that retrying cannot fix (e.g. refused credentials): `retry` lets it through."""


def backoff(settings: KafkaSettings, failures: int) -> float:
    """The wait after `failures` earlier failures in a row: doubling, capped."""
    # The exponent is capped too, so that a long outage cannot overflow the float.
    return min(settings.retry_initial_backoff_seconds * 2.0 ** min(failures, 64),
               settings.retry_max_backoff_seconds)
