"""Structured logs of the inference server: one JSON object per line.

Two streams:

- the **access log** (:class:`AccessLog`), one line per answered request on
  standard output: time, request id, method, path, status, latency, model,
  version, rows and prediction id. It is written straight to a buffer and
  flushed several times a second (after every line on a terminal), which
  costs a few microseconds per request instead of a logging call's tens;
- the **server log** (errors with their tracebacks, start-up and shut-down)
  through :mod:`logging`, formatted by :class:`JsonFormatter` on standard
  error. :func:`logging_config` is the ``dictConfig`` the server passes to
  uvicorn so that its own messages come out the same way.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

import orjson

__all__ = ["AccessLog", "JsonFormatter", "logging_config"]

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_RESERVED |= {"message", "asctime", "color_message"}


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def _iso(seconds: float) -> str:
    """``seconds`` since the epoch as ISO 8601 UTC with milliseconds (formatted once a second)."""
    global _second
    whole = int(seconds)
    cached = _second  # one read: another thread may replace it meanwhile
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int(seconds * 1000) % 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """Formats a log record as one JSON object: time, level, logger, message, extras.

    Fields passed with ``extra=`` are kept; an exception becomes ``error``
    (its class) and ``traceback``.
    """

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            doc["error"] = record.exc_info[0].__name__
            doc["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def logging_config(level: str = "info") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a server process: JSON lines on standard error."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "loggers": {
            name: {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
            for name in ("dockyard", "uvicorn", "uvicorn.error")
        }
        | {"uvicorn.access": {"handlers": [], "propagate": False}},
    }


class AccessLog:
    """One JSON line per request, written to ``stream`` (standard output by default).

    Lines are buffered; :meth:`flush` writes them out (the server calls it a
    few times a second and at shutdown). On a terminal every line is
    flushed at once.
    """

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        isatty = getattr(self._stream, "isatty", None)
        self._eager = bool(isatty and isatty())
        self._lines: list[bytes] = []

    def write(self, record: dict[str, Any]) -> None:
        """Queue one request's record (``time`` is added)."""
        record["time"] = _iso(time.time())
        self._lines.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        if self._eager:
            self.flush()

    def flush(self) -> None:
        """Write the queued lines."""
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        try:
            self._stream.write(b"".join(lines))
            self._stream.flush()
        except (OSError, ValueError):  # stdout closed or gone: the requests were still served
            pass
