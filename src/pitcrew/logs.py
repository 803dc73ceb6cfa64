"""How the server logs: readable lines for a terminal, one JSON object a line for collectors.

``LOG_FORMAT=json`` makes every line (pitcrew's, uvicorn's, the request log's) a JSON object
with ``time``, ``level``, ``logger`` and ``message``, plus the fields a line carries (the
request log adds ``method``, ``path``, ``status``, ``ms``, ``client`` and ``request_id``),
so a collector can search by request id or status without parsing text.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from pitcrew.config import Settings

# Attributes every LogRecord has; anything else on a record was passed as ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonLines(logging.Formatter):
    """One JSON object per record, with the record's ``extra`` fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server (uvicorn applies it in every worker)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonLines"}
        if settings.log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }
