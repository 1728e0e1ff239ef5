"""Agent-chat v1 messages: client requests in, server messages out. No I/O.

`parse_request` turns one text frame into a typed request or raises
`RequestError` with the protocol's error code and an exact message; the
encoders build the server's JSON objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_BATCH = 100
MAX_ID_CHARS = 256


class RequestError(Exception):
    """A request the server refuses; becomes an `error` reply, the connection stays open."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclass(frozen=True)
class Chat:
    """Start an agent run."""

    id: str
    text: str
    thread_id: str | None = None


@dataclass(frozen=True)
class CreateThread:
    """Create a thread owned by the caller."""

    id: str
    title: str | None = None


@dataclass(frozen=True)
class PostMessages:
    """Store a batch of 1..100 messages in one of the caller's threads."""

    id: str
    thread_id: str
    messages: tuple[str, ...]


@dataclass(frozen=True)
class GetThread:
    """Read one of the caller's threads."""

    id: str
    thread_id: str


Request = Chat | CreateThread | PostMessages | GetThread


def parse_request(text: str) -> Request:
    """Parse one client frame; raises `RequestError` (bad_request or too_large)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise RequestError("bad_request", "invalid JSON") from None
    if not isinstance(data, dict):
        raise RequestError("bad_request", "message must be a JSON object")
    raw_id = data.get("id")
    ref = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_CHARS else None
    try:
        return _typed(data)
    except RequestError as exc:
        exc.ref = ref
        raise


def _typed(data: Mapping[str, Any]) -> Request:
    kind = _field(data, "type", str)
    request_id = _field(data, "id", str)
    if not request_id or len(request_id) > MAX_ID_CHARS:
        raise RequestError("bad_request", f"field 'id' must be 1..{MAX_ID_CHARS} characters")
    if kind == "chat":
        text = _field(data, "text", str)
        return Chat(request_id, text, _optional(data, "thread_id"))
    if kind == "create_thread":
        return CreateThread(request_id, _optional(data, "title"))
    if kind == "post_messages":
        thread_id = _field(data, "thread_id", str)
        return PostMessages(request_id, thread_id, _batch(data))
    if kind == "get_thread":
        return GetThread(request_id, _field(data, "thread_id", str))
    raise RequestError("bad_request", f"unknown type: {kind!r}")


def _field(data: Mapping[str, Any], name: str, kind: type) -> Any:
    if name not in data:
        raise RequestError("bad_request", f"missing field: {name}")
    value = data[name]
    if not isinstance(value, kind):
        raise RequestError("bad_request", f"field '{name}' must be a {_kind_name(kind)}")
    return value


def _optional(data: Mapping[str, Any], name: str) -> str | None:
    if data.get(name) is None:
        return None
    return str(_field(data, name, str))


def _kind_name(kind: type) -> str:
    return "string" if kind is str else kind.__name__


def _batch(data: Mapping[str, Any]) -> tuple[str, ...]:
    items = _field(data, "messages", list)
    if not items:
        raise RequestError("bad_request", "field 'messages' must hold 1..100 strings")
    if len(items) > MAX_BATCH:
        raise RequestError("too_large", f"at most {MAX_BATCH} messages per batch, got {len(items)}")
    if not all(isinstance(item, str) for item in items):
        raise RequestError("bad_request", "field 'messages' must hold 1..100 strings")
    return tuple(items)


def now_ms() -> float:
    """Server time as the protocol wants it: Unix epoch milliseconds, float."""
    return time.time() * 1000.0


# One encoder, built once: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(message: Mapping[str, Any], raw: Mapping[str, str] | None = None) -> str:
    """One server message as compact JSON text; `raw` adds members whose values are
    JSON text already (a thread's arrays, built by the database), spliced in as is."""
    text = _ENCODER.encode(message)
    if not raw:
        return text
    members = "".join(f",{_ENCODER.encode(key)}:{value}" for key, value in raw.items())
    return f"{text[:-1]}{members}}}"


def reply(kind: str, ref: str | None, **fields: Any) -> dict[str, Any]:
    """A server message of `kind` answering the request `ref`."""
    return {"type": kind, "ref": ref, "ts": now_ms(), **fields}


def error(ref: str | None, code: str, message: str) -> dict[str, Any]:
    """An `error` message with one of the protocol's codes."""
    return reply("error", ref, code=code, message=message)
