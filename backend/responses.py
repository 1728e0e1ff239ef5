"""HTTP answers on the WebSocket port are JSON, including websockets' own refusals.

`json_response` builds the backend's answers. `JsonRefusals` wraps a
connection's protocol so that whatever websockets itself refuses (an
unreadable request head, a header line over its limit, a bad `Upgrade`,
an unsupported version: plain text by default) leaves as
`{"error": ..., "message": ...}` with the same status, because every
plain-HTTP answer of this port is JSON (docs/protocol.md).
"""

from __future__ import annotations

import http
from collections.abc import Callable

from websockets.datastructures import Headers
from websockets.http11 import Response

from backend.httpapi import HttpReply

JSON_TYPE = "application/json"
ERROR_CODES = {500: "internal", 503: "unavailable"}


def json_response(reply: HttpReply) -> Response:
    """A websockets `Response` carrying `reply` as JSON; the connection closes after it."""
    body = reply.text().encode()
    headers = Headers(
        [
            ("Content-Type", JSON_TYPE),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    return Response(reply.status, http.HTTPStatus(reply.status).phrase, headers, body)


def as_json(response: Response) -> Response:
    """`response` unchanged if it is a success or already JSON; else the same refusal as JSON."""
    if response.status_code < 400 or response.headers.get("Content-Type") == JSON_TYPE:
        return response
    message = response.body.decode("utf-8", "replace").split("\n", 1)[0].strip()
    code = ERROR_CODES.get(response.status_code, "bad_request")
    return json_response(HttpReply(response.status_code, {"error": code, "message": message}))


def json_refusals(send_response: Callable[[Response], None]) -> Callable[[Response], None]:
    """Wrap a protocol's `send_response` so that every refusal it sends is JSON."""

    def send(response: Response) -> None:
        send_response(as_json(response))

    return send
