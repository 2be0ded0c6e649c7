"""Structured logs: one JSON object a line, for a log shipper to parse.

What goes in: event names, ids, status codes. What never does: names, contact details,
check-in answers, tokens or codes (log calls pass ids, and errors log exception types).

Secrets that travel in URLs (the personal calendar URL, a token in a query) are the one
exception a call site cannot avoid: a request's path is worth logging. So the redaction is
done once, here, on every finished line, and every handler the app, uvicorn and the worker
install writes through `JsonFormatter` (tests/operations/test_operations.py checks each config)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from litestar.logging.config import LoggingConfig

# Attributes every record has; the rest are extras worth printing (minus uvicorn's coloured copy).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}


# The personal calendar's token (the rest of its path), and the value of any query parameter
# whose name says it is a secret.
_SECRETS = re.compile(
    r"(?P<keep>/v1/calendar/)[^/?#\s\"\\]+"
    r"|(?P<param>[?&](?:[\w-]*(?:token|secret|password|code|key|signature|ticket))=)[^&#\s\"\\]+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` without the secrets that URLs carry."""
    return _SECRETS.sub(lambda m: (m["keep"] or m["param"]) + "[redacted]", text)


class JsonFormatter(logging.Formatter):
    """The one formatter of every log line, and so the one place lines are redacted: the
    finished line is, whatever part (message, arguments, extras) carried the secret."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        return redact(json.dumps(entry, default=str))


_JSON = {"json": {"()": JsonFormatter}}
_CONSOLE = {"class": "logging.StreamHandler", "formatter": "json"}


def logging_config(level: str = "INFO") -> LoggingConfig:
    return LoggingConfig(
        formatters=dict(_JSON),
        # Litestar wants a queue_listener handler to exist; it is made JSON too, though unused.
        handlers={"console": dict(_CONSOLE), "queue_listener": dict(_CONSOLE)},
        root={"level": level, "handlers": ["console"]},
        loggers={
            "aftercare": {"level": level, "propagate": True},
            # Litestar's own lines would otherwise go to a plain-text handler of its own.
            "litestar": {"level": level, "handlers": [], "propagate": True},
        },
        log_exceptions="never",  # api.errors logs them, without their (possibly personal) text
    )


def _json_lines(**parts: dict[str, Any]) -> dict[str, Any]:
    """A `logging.config.dictConfig` whose one handler writes JSON lines to stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": dict(_JSON),
        "handlers": {"console": dict(_CONSOLE)},
        **parts,
    }


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own lines (start-up, access log) as JSON too."""
    return _json_lines(
        loggers={
            "uvicorn": {"handlers": ["console"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["console"], "level": level, "propagate": False},
        }
    )


def worker_log_config(level: str = "INFO") -> dict[str, Any]:
    """The worker's lines: everything through the root logger, as JSON."""
    return _json_lines(
        root={"level": level, "handlers": ["console"]},
        loggers={"httpx": {"level": "WARNING"}},  # a line per push otherwise
    )
