"""A small TCP fault proxy of the tests' own: real bytes between a client and a server,
with the faults a network or a hostile middlebox can inject, switched at run time.

``FaultProxy(upstream_port)`` listens on ``127.0.0.1:<port 0>`` in a thread of its
own (its own event loop), so synchronous and asynchronous tests both use it::

    with FaultProxy(backend_port) as proxy:
        proxy.mode = "blackhole"     # accept, read, never forward, never answer
        proxy.mode = "rst"           # accept, then reset the connection (SO_LINGER 0)
        proxy.mode = "pass"          # forward both ways unchanged
        proxy.strip_headers = ("authorization",)   # drop headers from the request head
        proxy.slow_bytes_s = 0.5     # forward the server's bytes one at a time
        proxy.slow_request_s = 0.5   # forward the client's bytes one at a time (slowloris)

The mode applies to connections accepted after it is set. ``connections`` counts
the accepted ones, so a test can wait for "the client tried" without sleeping.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterable
from typing import Literal, Self

Mode = Literal["pass", "blackhole", "rst"]
_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 65536


def strip_head(head: bytes, names: Iterable[str]) -> bytes:
    """The HTTP request head without the header lines named in ``names`` (any case)."""
    drop = {n.lower().encode() for n in names}
    lines = head.split(b"\r\n")
    kept = [lines[0]] + [
        line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() not in drop
    ]
    return b"\r\n".join(kept)


class FaultProxy:
    """One listening proxy in front of ``127.0.0.1:upstream_port`` (see the module doc)."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "pass"
        self.strip_headers: tuple[str, ...] = ()
        self.slow_bytes_s = 0.0
        self.slow_request_s = 0.0
        self.connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut_all(self) -> None:
        """Reset every open connection now (a partition of what is already connected)."""
        asyncio.run_coroutine_threadsafe(self._cut_all(), self._loop).result(10)

    # --- inside the proxy's thread --------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._cut_all()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self._server.wait_closed()

    async def _cut_all(self) -> None:
        for writer in list(self._writers):
            _reset(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            if self.mode == "rst":
                _reset(writer)
            elif self.mode == "blackhole":
                while await reader.read(65536):
                    pass  # swallowed: no byte goes on, none comes back
            else:
                await self._forward(reader, writer)
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers.add(up_writer)
        try:
            if self.strip_headers and not self.slow_request_s:
                head = await reader.readuntil(_HEAD_END)
                up_writer.write(strip_head(head, self.strip_headers))
            await asyncio.gather(
                _pipe(reader, up_writer, self.slow_request_s),
                _pipe(up_reader, writer, self.slow_bytes_s),
            )
        finally:
            self._writers.discard(up_writer)
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Copy until EOF; with ``delay_s``, one byte every ``delay_s`` seconds."""
    try:
        while data := await reader.read(1 if delay_s else 65536):
            writer.write(data)
            await writer.drain()
            if delay_s:
                await asyncio.sleep(delay_s)  # the fault itself, not a synchronisation
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER on, timeout 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
