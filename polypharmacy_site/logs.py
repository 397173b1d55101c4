"""Logging filters of the site (settings.LOGGING)."""

from __future__ import annotations

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """Django logs every 4xx it answers for an exception (a page the role may not open, a 404)
    with the exception's traceback. Those are refusals, not faults: one line each, so a real
    error's traceback is not lost among them. 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
