"""Logs (PLAT-14): one JSON object a line for a log collector, plain text
when a person watches a terminal.

Nothing personal is logged: request lines carry the route *template*
(``/audits/{allocation_id}``), never the path, query or body; an error
carries its type and where it happened, never its message (a database error
quotes the values it refused). qaf's log calls pass figures as ``extra``
fields or ids; their message is a fixed phrase.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import traceback

# The fields a record may carry into a JSON line, besides the fixed ones.
FIELDS = ("request_id", "method", "route", "status", "duration_ms", "cycles_issued", "deadlines_missed",
          "sent", "retried", "failed", "seconds", "workers", "batch", "batches")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            line["error"] = kind.__name__
            # Where, not what: file, line and function of each frame.
            line["at"] = [f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno} {frame.name}"
                          for frame in traceback.extract_tb(tb)][-8:]
        return json.dumps(line, separators=(",", ":"), default=str)


class Readable(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if getattr(record, "route", None):
            text += f"  {record.method} {record.route} {record.status} {record.duration_ms} ms [{record.request_id[:8]}]"
        return text


def configure(log_format: str = "auto", stream=None, *, access: bool = True) -> str:
    """Send every logger's records to ``stream`` (stderr) in the chosen form;
    returns the form used ("json" or "text"). ``access``: a line per request."""
    stream = stream or sys.stderr
    chosen = log_format if log_format != "auto" else ("text" if _isatty(stream) else "json")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines() if chosen == "json" else Readable())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Uvicorn's own access log names paths and client addresses: replaced by qaf.access.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("qaf.access").disabled = not access
    return chosen


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
