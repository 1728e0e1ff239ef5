"""The socketio codec and the graphql-transport-ws profile against the server libraries
teams deploy (python-socketio, Strawberry, both served by aiohttp on loopback), so what
the probe reads is what real servers send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio
import socketio
import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from probes.profiles.registry import builtin, load_file
from tests.profiles.conftest import probe_round
from tests.profiles.dialects import user_of

SOCKETIO_PROFILE = load_file(Path(__file__).with_name("socketio-chat.toml"))


async def serve_app(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    return runner, server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]


def socketio_app(ping_interval: float = 0.1, ping_timeout: float = 0.5) -> web.Application:
    """A python-socketio chat server that pings every 0.1 s (a run spans several pings)."""
    sio = socketio.AsyncServer(
        async_mode="aiohttp", ping_interval=ping_interval, ping_timeout=ping_timeout
    )
    app = web.Application()
    sio.attach(app)

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        user = user_of(str((auth or {}).get("token", "")))
        if user is None:
            raise socketio.exceptions.ConnectionRefusedError("not authorized")
        await sio.save_session(sid, {"user": user})

    @sio.on("chat")
    async def chat(sid: str, data: dict[str, Any]) -> None:
        user = (await sio.get_session(sid))["user"]
        run_id = uuid4().hex[:8]
        for seq, name in enumerate(("run_started", "run_delta", "run_done"), start=1):
            body = {"ref": data["id"], "user_id": user, "run_id": run_id, "seq": seq}
            await sio.emit(name, body | ({"status": "ok"} if name == "run_done" else {}), to=sid)
            await asyncio.sleep(0.15)

    return app


@pytest_asyncio.fixture
async def socketio_url() -> AsyncIterator[str]:
    runner, port = await serve_app(socketio_app())
    yield f"ws://127.0.0.1:{port}/socket.io/"
    await runner.cleanup()


@pytest.mark.asyncio
async def test_the_socketio_codec_reads_python_socketio(socketio_url: str) -> None:
    result = await probe_round(socketio_url, SOCKETIO_PROFILE, users=3)
    assert [(s.reason, s.error) for s in result.sessions] == [(None, "")] * 3
    events = [e.type for e in result.sessions[0].events]
    assert events == ["connect", "run_started", "run_delta", "run_done"]
    assert result.auth_check is not None and result.auth_check.ok  # CONNECT_ERROR for a bad token


@pytest.mark.asyncio
async def test_a_probe_session_outlives_python_socketios_ping_timeout() -> None:
    """pingInterval 50 ms + pingTimeout 100 ms, a run of 450 ms: python-socketio drops a
    client that does not answer its ``2`` (a plain client here, which never does) and
    keeps the probe's sessions, whose codec answers ``3`` to each of the nine pings."""
    runner, port = await serve_app(socketio_app(ping_interval=0.05, ping_timeout=0.1))
    url = f"ws://127.0.0.1:{port}/socket.io/"
    try:
        async with connect(url + "?EIO=4&transport=websocket") as deaf:
            assert (await deaf.recv()).startswith("0{")  # the open packet
            with pytest.raises(ConnectionClosed):
                while True:  # the server's pings, unanswered, then its close
                    assert await asyncio.wait_for(deaf.recv(), 5) == "2"
        result = await probe_round(url, SOCKETIO_PROFILE, users=3)
    finally:
        await runner.cleanup()
    assert [(s.reason, s.close_code) for s in result.sessions] == [(None, 1000)] * 3


@strawberry.type
class AgentEvent:
    type: str
    user_id: str
    run_id: str
    seq: int
    text: str


@strawberry.type
class Query:
    @strawberry.field
    def health(self) -> str:
        return "ok"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def agent_run(
        self, info: strawberry.Info, message: str
    ) -> AsyncGenerator[AgentEvent, None]:
        auth = str(info.context["connection_params"].get("Authorization", ""))
        user, run_id = user_of(auth.removeprefix("Bearer ")) or "?", uuid4().hex[:8]
        for seq, kind in enumerate(("started", "thinking", "answer"), start=1):
            if message == "fail" and seq == 2:
                raise RuntimeError("the tool crashed")
            yield AgentEvent(type=kind, user_id=user, run_id=run_id, seq=seq, text="84")


class AgentView(GraphQLView):  # type: ignore[type-arg]
    async def on_ws_connect(self, context: Any) -> Any:
        auth = str(context["connection_params"].get("Authorization", ""))
        if user_of(auth.removeprefix("Bearer ")) is None:
            raise ConnectionRejectionError({"reason": "bad token"})
        return await super().on_ws_connect(context)


@pytest_asyncio.fixture
async def strawberry_url() -> AsyncIterator[str]:
    schema = strawberry.Schema(query=Query, subscription=Subscription)
    view = AgentView(schema=schema, subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL])
    app = web.Application()
    app.router.add_route("*", "/graphql", view)
    runner, port = await serve_app(app)
    yield f"ws://127.0.0.1:{port}/graphql"
    await runner.cleanup()


@pytest.mark.asyncio
async def test_the_graphql_profile_reads_strawberry(strawberry_url: str) -> None:
    profile = builtin("graphql-transport-ws")
    result = await probe_round(strawberry_url, profile, users=3)
    assert [(s.reason, s.error) for s in result.sessions] == [(None, "")] * 3
    session = result.sessions[0]
    assert [e.type for e in session.events] == [
        "connection_ack",
        "next",
        "next",
        "next",
        "complete",
    ]
    assert [e.seq for e in session.events[1:4]] == [1, 2, 3]
    assert result.auth_check is not None and result.auth_check.ok
    assert result.auth_check.close_code == 4403


@pytest.mark.asyncio
async def test_a_strawberry_resolver_error_is_a_protocol_error(strawberry_url: str) -> None:
    profile = builtin("graphql-transport-ws")
    result = await probe_round(strawberry_url, profile, users=1, message="fail")
    session = result.sessions[0]
    assert session.reason == "protocol_error"
    assert "the tool crashed" in session.error
