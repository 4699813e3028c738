"""Structured logs on stderr, one logfmt line per event.

Call sites log `"event key=value ..."`; the formatter prefixes `ts=... level=... msg=`,
so `logger.info("listening http=%s", url)` becomes
`ts=2026-11-28T10:00:00.123Z level=info msg=listening http=http://127.0.0.1:8080`.
"""

from __future__ import annotations

import logging
import sys

from common.models import format_time, utc_now


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        line = f"ts={format_time(utc_now())} level={level} msg={record.getMessage()}"
        if record.exc_info:
            error = self.formatException(record.exc_info).replace("\n", "\\n")
            line += f' traceback="{error}"'
        return line


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's own access log would duplicate our request logging.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
