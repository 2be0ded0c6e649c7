"""Structured logs: one JSON object a line, for a log shipper to parse.

What goes in: event names, ids, status codes. What never does: names, contact details,
check-in answers, tokens or codes (log calls pass ids, and errors log exception types)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

from litestar.logging.config import LoggingConfig

# Attributes every record has; the rest are extras worth printing (minus uvicorn's coloured copy).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        return json.dumps(entry, default=str)


def logging_config(level: str = "INFO") -> LoggingConfig:
    return LoggingConfig(
        formatters={"json": {"()": JsonFormatter}},
        handlers={"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        root={"level": level, "handlers": ["console"]},
        loggers={"aftercare": {"level": level, "propagate": True}},
        log_exceptions="never",  # api.errors logs them, without their (possibly personal) text
    )


_SECRET_PATHS = re.compile(r"(/v1/calendar/)[^/?\s]+")


class RedactSecretPaths(logging.Filter):
    """The personal calendar URL is a secret: the access log gets it without the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_PATHS.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args)
        return True


def uvicorn_log_config(level: str = "INFO") -> dict:
    """uvicorn's own lines (start-up, access log) as JSON too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"redact": {"()": RedactSecretPaths}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]}},
        "loggers": {
            "uvicorn": {"handlers": ["console"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
