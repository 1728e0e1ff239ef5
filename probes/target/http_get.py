"""One small HTTP GET with a deadline on the whole exchange, on the event loop.

urllib's ``timeout`` bounds each socket read, so a server that trickles a byte
every half second never times out, and the thread waiting on it is stuck for as
long as the server likes. Here the connect, the request, the headers and the body
together must finish within ``deadline_s`` (``asyncio.timeout``), no thread is
used, and the body is capped. The response is parsed by ``http.client`` (status,
headers, chunked bodies), never by hand.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_BYTES = 256 * 1024  # a /healthz answer is a few hundred bytes


class HttpGetError(Exception):
    """The GET did not give a complete response in time (or the URL cannot be fetched)."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes


class _Bytes:
    """What ``http.client.HTTPResponse`` reads from: the bytes already received."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, *_args: object, **_kwargs: object) -> io.BytesIO:
        return io.BytesIO(self._data)


async def http_get(url: str, deadline_s: float) -> HttpResponse:
    """GET ``url`` (http or https) and return status and body, all within ``deadline_s``.

    Raises ``HttpGetError`` when the deadline passes, the connection fails, the
    answer is larger than ``MAX_BYTES`` or is not HTTP.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpGetError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    context = ssl.create_default_context() if parts.scheme == "https" else None
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")
    try:
        async with asyncio.timeout(deadline_s):
            reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
            try:
                writer.write(request)
                await writer.drain()
                data = await _read_all(reader)
            finally:
                writer.close()
    except TimeoutError:
        raise HttpGetError(f"no complete answer within {deadline_s:g}s") from None
    except OSError as exc:
        raise HttpGetError(str(exc) or type(exc).__name__) from None
    return _parse(data)


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await reader.read(65536):
        size += len(chunk)
        if size > MAX_BYTES:
            raise HttpGetError(f"answer larger than {MAX_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(data: bytes) -> HttpResponse:
    response = http.client.HTTPResponse(_Bytes(data))  # type: ignore[arg-type]
    try:
        response.begin()
        return HttpResponse(response.status, response.read())
    except (http.client.HTTPException, ValueError) as exc:
        raise HttpGetError(f"not an HTTP answer: {exc!r}") from None
    finally:
        response.close()
