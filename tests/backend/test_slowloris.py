"""A handshake trickled a byte at a time is cut off at the handshake deadline.

Raw loopback sockets send a request head one byte every 50 ms, for far
longer than the deadline; the server must close the connection while the
client is still trickling, on each way in (upgrade, plain HTTP, a request
line never finished), and keep serving everyone else.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from backend.config import BackendConfig, SettingError

TRICKLE_BYTES = 400  # at 50 ms a byte: 20 s, forty times the deadline below


async def _trickled_until_cut(host: str, port: int, first: bytes) -> bool:
    """True when the server closed the connection before the trickle ended."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(first)
    try:
        for _ in range(TRICKLE_BYTES):
            writer.write(b"x")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), 0.05) == b"":
                    return True
            except TimeoutError:
                continue
    except ConnectionError:
        return True
    finally:
        writer.close()
    return False


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "first",
    [
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nX-Slow: ",
        b"PUT /admin/faults HTTP/1.1\r\nHost: a\r\nX-Slow: ",
        b"G",
    ],
    ids=["upgrade", "plain-http", "request-line"],
)
async def test_a_trickled_handshake_is_cut_off(
    config: BackendConfig, start: Any, users: Any, first: bytes
) -> None:
    async with start(config, handshake_timeout_s=0.5) as srv:
        slow = [
            asyncio.create_task(_trickled_until_cut(srv.host, srv.port, first)) for _ in range(3)
        ]
        users.url = srv.url
        ws = await users.connect("alice")  # served meanwhile
        await ws.send('{"type": "create_thread", "id": "t"}')
        assert '"thread_created"' in await ws.recv()
        assert await asyncio.gather(*slow) == [True, True, True]
        assert len(srv.slots) == 1


def test_the_handshake_deadline_must_be_positive(config: BackendConfig) -> None:
    with pytest.raises(SettingError, match="handshake_timeout_s"):
        replace(config, handshake_timeout_s=0)
