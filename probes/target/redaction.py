"""Keeping a session's token out of every text slawatch keeps or prints.

A record's error and close reason, and every line of ``--trace``, pass
through ``redact`` first: the token as is, base64url-encoded (the
``{token_b64url}`` placeholder) and URL-quoted (the query auth mode).
"""

from __future__ import annotations

from urllib.parse import quote

from probes.profiles.templates import token_b64url

REDACTED = "[redacted]"


class Secrets:
    """The forms a session's token can take in a text (as is, base64url, URL-quoted).

    Worked out on first use: most sessions have no text to redact.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self._forms: tuple[str, ...] | None = None

    @property
    def forms(self) -> tuple[str, ...]:
        if self._forms is None:
            token = self.token
            forms = (token, token_b64url(token), quote(token, safe=""))
            self._forms = tuple(s for s in dict.fromkeys(forms) if s)
        return self._forms


def redact(text: str, hidden: Secrets) -> str:
    """``text`` with every form of the session's token replaced."""
    if not text:
        return text
    for secret in hidden.forms:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
