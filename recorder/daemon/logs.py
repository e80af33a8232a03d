"""Structured logs: one JSON object per line (to stderr or a file), via stdlib logging.

    log = event_logger(level="info", path="")      # "" = stderr
    log.info("connected", extra=fields(venue="upbit", stream=3))

Every line has ``ts`` (UTC ISO), ``level``, ``event`` (the message) and the fields.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import orjson

LOGGER = "ticktape.recorder"


def fields(**kw: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the structured fields of one line."""
    return {"fields": kw}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line: ts, level, event, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        t = record.created
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"
        out: dict[str, Any] = {"ts": ts, "level": record.levelname.lower(), "event": record.getMessage()}
        extra = getattr(record, "fields", None)
        if extra:
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def event_logger(*, level: str = "info", path: str = "", name: str = LOGGER) -> logging.Logger:
    """A logger writing JSON lines to ``path`` (appended; its directory made) or stderr;
    replaces old handlers."""
    log = logging.getLogger(name)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler: logging.Handler = (logging.FileHandler(path, encoding="utf-8") if path
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(level.upper())
    log.propagate = False
    return log


def destination(name: str = LOGGER) -> str:
    """Where ``name``'s lines go: the file's path, or ``"stderr"``, or ``""`` (nowhere yet)."""
    for h in logging.getLogger(name).handlers:
        if isinstance(h, logging.FileHandler):
            return h.baseFilename
        if isinstance(h, logging.StreamHandler):
            return "stderr" if h.stream is sys.stderr else getattr(h.stream, "name", "a stream")
    return ""
