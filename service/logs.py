"""Log output: text for people at a terminal, or one JSON object per line for log shippers.

faust configures the root logger itself when its worker starts (mode.utils.logging), so
the JSON set-up is handed to it as its `logging_config`; the same is installed at once for
what is logged before the worker starts. Secrets are masked in messages by the record
factory of service/secrets.py; exception texts are masked here, as they are formatted.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from service.settings import Settings
from service.version import package_version

# Record attributes (from a log call's `extra`) that say which command a line is about.
COMMAND_FIELDS = ("commandId", "orgId", "topic", "partition", "offset")
# What every LogRecord has: anything else on a record came from a log call's `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra` a log call passed (COMMAND_FIELDS among them), None values left out."""
    return {name: value for name, value in vars(record).items()
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_")
            and value is not None}


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self._redact = redact or (lambda text: text)
        self._version = package_version()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
            "version": self._version,
        }
        for name, value in extra_fields(record).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self._redact(self.formatException(record.exc_info))
        elif record.stack_info:
            line["stack"] = self._redact(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """logging's text lines, with exception texts masked as the JSON ones are."""

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__(logging.BASIC_FORMAT)
        self._redact = redact or (lambda text: text)

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return self._redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return self._redact(super().formatStack(stack_info))


def json_logs(settings: Settings) -> bool:
    """JSON unless asked for text, or unset and writing to a terminal."""
    if settings.log_format is None:
        return not sys.stdout.isatty()
    return settings.log_format == "json"


def setup_logging(settings: Settings, redact: Callable[[str], str] | None
                  ) -> dict[str, Any] | None:
    """Configure the root logger now; returns the logging_config for faust's worker
    (None: faust's own text set-up)."""
    if not json_logs(settings):
        handler = logging.StreamHandler()
        handler.setFormatter(TextFormatter(redact))
        logging.basicConfig(level=settings.log_level, handlers=[handler])
        return None
    logging.config.dictConfig(_json_config(settings, redact))
    return _json_config(settings, redact)  # a fresh one: dictConfig consumes its input


def _json_config(settings: Settings, redact: Callable[[str], str] | None) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "redact": redact}},
        # The real stdout, resolved now: faust later redirects sys.stdout into logging.
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json",
                                 "stream": sys.stdout}},
        "root": {"level": settings.log_level, "handlers": ["default"]},
    }
