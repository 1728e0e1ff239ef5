"""Frame templates: JSON text with placeholders, filled per user and per chat.

Only the placeholders of PROFILES.md are replaced; every other brace (the
JSON's own) is left alone. ``{echo:PATH}`` exists in heartbeat replies only
and is filled with that field of the event being answered, as JSON.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from probes.profiles.paths import compile_path, lookup

PLACEHOLDERS: tuple[str, ...] = (
    "token",
    "token_b64url",
    "user_id",
    "request_id",
    "message",
    "message_json",
    "nonce",
    "now_ms",
)
_NAMES = "|".join(PLACEHOLDERS)
_PLACEHOLDER = re.compile(r"\{(" + _NAMES + r"|echo:[A-Za-z0-9_.\-]+)\}")
SECRET_PLACEHOLDERS = ("token", "token_b64url")


def token_b64url(token: str) -> str:
    """The token as unpadded base64url (RFC 4648 section 5): safe in subprotocols and URLs."""
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


@lru_cache(maxsize=64)
def message_values(message: str) -> dict[str, str]:
    """``{message}`` (escaped for inside a JSON string) and ``{message_json}`` (quoted)."""
    quoted = json.dumps(message)
    return {"message": quoted[1:-1], "message_json": quoted}


def names_in(template: str) -> set[str]:
    """The placeholders ``template`` uses (``echo:...`` as ``echo``)."""
    return {m.group(1).split(":", 1)[0] for m in _PLACEHOLDER.finditer(template)}


@lru_cache(maxsize=256)
def _parts(template: str) -> tuple[str, ...]:
    """Literal text and placeholder names, alternating (odd indices are names)."""
    return tuple(_PLACEHOLDER.split(template))


def _value(name: str, values: Mapping[str, str], event: Any) -> str:
    if name.startswith("echo:"):
        return json.dumps(lookup(event, compile_path(name[5:])))
    if name == "now_ms":
        return str(int(time.time() * 1000))
    return values.get(name, "{" + name + "}")


def fill(template: str, values: Mapping[str, str], event: Any = None) -> str:
    """``template`` with its placeholders replaced from ``values`` (and ``event`` for echo)."""
    parts = _parts(template)
    if len(parts) == 1:
        return template
    return "".join(p if i % 2 == 0 else _value(p, values, event) for i, p in enumerate(parts))
