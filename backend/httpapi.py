"""The plain-HTTP side of the port: `/healthz` and `/admin/faults`.

Routing is a function of one parsed request (method, path, headers, body)
to one JSON reply, whichever way the request arrived: GET requests come
through websockets' `process_request`; requests with other methods (and
bodies, such as `PUT /admin/faults`) are read by `backend.connection`,
because websockets' HTTP parser refuses request bodies.
"""

from __future__ import annotations

import hmac
import http
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.faults import FaultBox, FaultError, faults_to_json, parse_faults
from backend.headers import DuplicateHeader, single_valued

WS_PATH = "/ws"
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024


class HttpParseError(Exception):
    """A plain HTTP request that cannot be read; answered with `status` then closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request; header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class HttpReply:
    """A JSON answer to a plain HTTP request."""

    status: int
    body: Mapping[str, Any]

    def text(self) -> str:
        """The JSON body."""
        return json.dumps(self.body, separators=(",", ":"))

    def serialize(self) -> bytes:
        """The whole HTTP/1.1 response, for the connection to write and close."""
        body = self.text().encode()
        phrase = http.HTTPStatus(self.status).phrase
        head = (
            f"HTTP/1.1 {self.status} {phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode("ascii") + body


def parse_head_and_body(buffer: bytes) -> HttpRequest | None:
    """Parse a complete request from `buffer`, or None while more bytes are needed."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise HttpParseError(431, "request head too large")
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpParseError(400, "malformed request line")
    headers = _headers(lines[1:])
    if "transfer-encoding" in headers:
        raise HttpParseError(400, "Transfer-Encoding is not supported; send Content-Length")
    length = _content_length(headers)
    body = buffer[end + 4 : end + 4 + length]
    if len(body) < length:
        return None
    return HttpRequest(parts[0].upper(), parts[1], headers, body)


def _headers(lines: list[str]) -> dict[str, str]:
    pairs = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpParseError(400, "malformed header line")
        pairs.append((name, value))
    try:
        return single_valued(pairs)
    except DuplicateHeader as exc:
        raise HttpParseError(400, str(exc)) from None


def _content_length(headers: Mapping[str, str]) -> int:
    raw = headers.get("content-length", "0")
    if not raw.isdigit():
        raise HttpParseError(400, "malformed Content-Length")
    if int(raw) > MAX_BODY_BYTES:
        raise HttpParseError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    return int(raw)


def _error(status: int, error: str, **fields: Any) -> HttpReply:
    return HttpReply(status, {"error": error, **fields})


class HttpApi:
    """Answers `/healthz` and `/admin/faults`; `None` means 'a WebSocket handshake'."""

    def __init__(
        self,
        *,
        health: Callable[[], Mapping[str, Any]],
        faults: FaultBox,
        admin_token: str | None,
    ) -> None:
        self._health = health
        self._faults = faults
        self._admin_token = admin_token

    def handle(self, request: HttpRequest) -> HttpReply | None:
        """Route one request; unknown paths get 404, unsupported methods 405."""
        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            if request.method == "GET":
                return None
            return _error(405, "method_not_allowed", message="WebSocket upgrades use GET")
        if path == "/healthz":
            if request.method != "GET":
                return _error(405, "method_not_allowed", message="use GET")
            return HttpReply(200, {"status": "ok", **self._health()})
        if path == "/admin/faults":
            return self._admin(request)
        return _error(404, "not_found", message=f"no such path: {path}")

    def _admin(self, request: HttpRequest) -> HttpReply:
        if self._admin_token is None:
            return _error(404, "not_found", message="admin endpoints are off")
        refusal = self._refuse_admin(request.headers.get("authorization"))
        if refusal is not None:
            return refusal
        if request.method == "GET":
            return self._show()
        if request.method == "PUT":
            return self._replace(request.body)
        if request.method == "DELETE":
            self._faults.current = parse_faults({})
            return self._show()
        return _error(405, "method_not_allowed", message="use GET, PUT or DELETE")

    def _refuse_admin(self, authorization: str | None) -> HttpReply | None:
        assert self._admin_token is not None
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "unauthorized", reason="missing token")
        if not hmac.compare_digest(token.strip().encode(), self._admin_token.encode()):
            return _error(401, "unauthorized", reason="wrong admin token")
        return None

    def _show(self) -> HttpReply:
        return HttpReply(200, {"faults": faults_to_json(self._faults.current)})

    def _replace(self, body: bytes) -> HttpReply:
        try:
            values = json.loads(body or b"null")
        except ValueError:
            values = None
        if not isinstance(values, dict):
            return _error(400, "bad_request", message="body must be a JSON object of faults")
        try:
            self._faults.current = parse_faults(values)
        except FaultError as exc:
            return _error(400, "bad_request", fault=exc.fault, message=str(exc))
        return self._show()
