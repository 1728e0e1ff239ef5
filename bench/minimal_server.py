"""A minimal agent-chat server (PROTOCOL.md's happy path) for the probe capacity bench.

Run in its own process so that the bench's client CPU is the client's only.
It accepts the token in the header or the subprotocol without checking it
(the user id is read from the token's payload unverified) and answers each
``chat`` at once with six messages: agent_started, agent_thinking,
tool_executing, tool_completed, agent_thinking, agent_completed.

    python bench/minimal_server.py [--host 127.0.0.1] [--port 0]

prints ``READY ws://HOST:PORT/ws`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from itertools import count

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

STEPS = (
    ("agent_started", {}),
    ("agent_thinking", {"text": "12 * 7"}),
    ("tool_executing", {"tool": "calculator"}),
    ("tool_completed", {"tool": "calculator", "result": "84"}),
    ("agent_thinking", {"text": "answering"}),
    ("agent_completed", {"answer": "84", "db_ms": {"result_store": 0.1}}),
)
_runs = count(1)


def _user_id(request: Request) -> str:
    """The token's ``sub``, read without verification (this server checks nothing)."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    for offer in request.headers.get_all("Sec-WebSocket-Protocol"):
        for item in offer.split(","):
            if item.strip().startswith("bearer."):
                token = item.strip().removeprefix("bearer.")
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])
    except (IndexError, ValueError, KeyError, TypeError):
        return "anonymous"


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    connection.user_id = _user_id(request)  # type: ignore[attr-defined]
    return None


async def handler(ws: ServerConnection) -> None:
    user_id = ws.user_id  # type: ignore[attr-defined]
    try:
        async for raw in ws:
            request = json.loads(raw)
            if request.get("type") != "chat":
                continue
            run = next(_runs)
            common = {
                "ref": request["id"],
                "user_id": user_id,
                "run_id": f"run-{os.getpid()}-{run}",
            }
            common["thread_id"] = f"thread-{run}"
            for seq, (kind, extra) in enumerate(STEPS, start=1):
                message = {"type": kind, "seq": seq, **common, **extra, "ts": time.time() * 1000}
                await ws.send(json.dumps(message))
    except ConnectionClosed:
        pass


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true")  # parsed again in __main__
    args = parser.parse_args()
    async with serve(
        handler,
        args.host,
        args.port,
        process_request=process_request,
        subprotocols=[Subprotocol("agent-chat.v1")],
        ping_interval=None,
        backlog=4096,  # a round opens up to 1000 connections at once
    ) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"READY ws://{host}:{port}/ws", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    if "--uvloop" in sys.argv:
        import uvloop  # optional: only for the bench's uvloop figures

        uvloop.run(main())
    else:
        asyncio.run(main())
