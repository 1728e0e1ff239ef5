"""Tokens never reach a log line: a filter that redacts credentials at every level.

Why: with `--log-level DEBUG` websockets' server logger prints every request
header, so whole JWTs (the `Authorization: Bearer` header and the
`bearer.<token>` subprotocol) and the admin token went to the log. The
filter rewrites a record's message (and its formatted traceback) before any
handler writes it. It sits on websockets' loggers, which create those
records, and on the root logger's handlers, which every propagated record
passes. The probes have their own copy (`probes.redaction`): the backend
may not import the probes.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_PATTERNS = (
    # `Authorization: Bearer X` and the `bearer.X` subprotocol entry
    re.compile(r"(?i)(\bbearer[ .])[^\s,;'\"]+"),
    # any JWT, wherever it appears (its base64url header always starts `eyJ`)
    re.compile(r"()eyJ[\w-]*\.[\w-]*\.[\w-]*"),
)
_LOGGERS = ("websockets", "websockets.server", "websockets.client", "websockets.protocol")


def redact(text: str) -> str:
    """`text` with every bearer credential and JWT replaced by `[redacted]`."""
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


class RedactCredentials(logging.Filter):
    """Rewrites a record's message and traceback text without dropping the record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_redaction() -> RedactCredentials:
    """Put the filter on websockets' loggers and on every root handler (idempotent)."""
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in _LOGGERS]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, RedactCredentials) for f in target.filters):
            target.addFilter(_SHARED)
    return _SHARED


_SHARED = RedactCredentials()
