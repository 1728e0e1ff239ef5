"""Keeping a session's token out of every text slawatch keeps or prints.

A record's error and close reason, and every line of ``--trace``, pass
through ``redact`` first, before anything shortens them: the token as is,
base64url-encoded (the ``{token_b64url}`` placeholder), URL-quoted (the query
auth mode, both as ``quote`` and as ``urlencode`` writes it) and JSON-escaped.
A server that echoes the token cut short (a close reason has 123 bytes at
most, a body may be truncated) is caught too: any run of at least
``PARTIAL`` characters that starts a form of the token is replaced.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from probes.profiles.templates import token_b64url

REDACTED = "[redacted]"
PARTIAL = 16  # a run this long of the start of the token counts as the token


class Secrets:
    """The forms a session's token can take in a text (as is, base64url, URL-quoted, JSON).

    Worked out on first use: most sessions have no text to redact.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self._forms: tuple[str, ...] | None = None

    @property
    def forms(self) -> tuple[str, ...]:
        if self._forms is None:
            token = self.token
            forms = (
                token, token_b64url(token), quote(token, safe=""), quote_plus(token),
                json.dumps(token)[1:-1],
            )  # fmt: skip
            # longest first: a form that contains another is replaced whole
            self._forms = tuple(sorted((s for s in dict.fromkeys(forms) if s), key=len)[::-1])
        return self._forms


def _partial(text: str, secret: str) -> str:
    """``text`` with every run of ``PARTIAL`` or more characters starting ``secret`` replaced."""
    head = secret[:PARTIAL]
    start = text.find(head)
    while start >= 0:
        end = start + PARTIAL
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        text = text[:start] + REDACTED + text[end:]
        start = text.find(head, start + len(REDACTED))
    return text


def redact(text: str, hidden: Secrets) -> str:
    """``text`` with every form of the session's token (whole or cut short) replaced."""
    if not text:
        return text
    for secret in hidden.forms:
        if secret in text:
            text = text.replace(secret, REDACTED)
        if len(secret) > PARTIAL and secret[:PARTIAL] in text:
            text = _partial(text, secret)
    return text
