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

# Record attributes (from a log call's `extra`) that say which command a line is about.
COMMAND_FIELDS = ("commandId", "orgId", "topic", "partition", "offset")


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self._redact = redact or (lambda text: text)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        for name in COMMAND_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self._redact(self.formatException(record.exc_info))
        elif record.stack_info:
            line["stack"] = self._redact(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


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
        logging.basicConfig(level=settings.log_level)
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
