"""A bare websockets server: the baseline for bench/backend.py.

It answers every text frame with the same six messages the backend streams
for a one-tool chat, built and encoded the same way, with no auth, agent,
faults or database. Same websockets settings as the backend (no
compression, 64 KiB frames). Prints one ready line:
`bare-server listening on ws://HOST:PORT/ws pid=PID`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
import uuid
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

STEPS: list[tuple[str, dict[str, Any]]] = [
    ("agent_started", {}),
    ("agent_thinking", {"text": "Reading a 4-word message; plan: calculator."}),
    ("tool_executing", {"tool": "calculator", "argument": "2 + 3"}),
    ("tool_completed", {"tool": "calculator", "result": "5"}),
    ("agent_thinking", {"text": "Composing the answer from 1 tool result(s)."}),
    ("agent_completed", {"answer": "The result is 5.", "db_ms": {"result_store": 0.0}}),
]


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


async def handler(ws: ServerConnection) -> None:
    """Stream the six messages for every request, echoing its id as ref."""
    thread_id = uuid.uuid4().hex
    async for frame in ws:
        request = json.loads(frame)
        base = {
            "ref": request.get("id"),
            "run_id": uuid.uuid4().hex,
            "thread_id": request.get("thread_id") or thread_id,
            "user_id": "bench",
        }
        for seq, (kind, fields) in enumerate(STEPS, start=1):
            message = {"type": kind, **base, "seq": seq, **fields, "ts": time.time() * 1000.0}
            await ws.send(encode(message))


async def main(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(handler, host, port, compression=None, max_size=65536) as server:
        bound = server.sockets[0].getsockname()
        print(
            f"bare-server listening on ws://{bound[0]}:{bound[1]}/ws pid={os.getpid()}", flush=True
        )
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
