"""The badges SDK: publish badge commands to Kafka and await their result events.

    from badges_sdk import BadgesClient

Installs alone (the distribution badges-sdk, with badges-schemas for the contracts); the
worker, the CLI and the gateway use the same code.
"""

from badges_sdk.client import BadgesClient, OutgoingCommand, SendManyError
from badges_sdk.replies import (
    MalformedResultError,
    ReplyLimits,
    ResultsUnavailableError,
    ResultTimeoutError,
)
from badges_sdk.settings import KafkaSettings

__all__ = ["BadgesClient", "KafkaSettings", "MalformedResultError", "OutgoingCommand",
           "ReplyLimits", "ResultTimeoutError", "ResultsUnavailableError", "SendManyError"]
