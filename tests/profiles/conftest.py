"""Fixtures: the tests' own dialect servers on free loopback ports, and a probe round helper."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest_asyncio
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from probes.config import ProbeSettings
from probes.profiles.model import Profile
from probes.records import RoundResult
from probes.target.round import run_round
from tests.profiles.dialects import SECRET, GraphqlServer, RealtimeServer, SocketIoServer

API_KEY = "sk-test-0123456789abcdefABCDEF"


def settings(url: str, profile: Profile, users: int, **changes: Any) -> ProbeSettings:
    """Small timeouts: the faults that send nothing more end at the session timeout."""
    values: dict[str, Any] = {
        "name": "dialect", "target": url, "users": users, "every_s": 30.0, "timeout_s": 4.0,
        "session_timeout_s": 1.5, "db_check": False, "user_prefix": "u", "profile": profile,
        "profile_ref": profile.name, "memory": "off",
    }  # fmt: skip
    return ProbeSettings(**(values | changes))


async def probe_round(url: str, profile: Profile, users: int, **changes: Any) -> RoundResult:
    """One real round (sessions at once, the bad-token check unless turned off)."""
    return await run_round(
        settings(url, profile, users, **changes),
        run_id=uuid.uuid4().hex,
        runner="tests",
        secret=SECRET,
        memory=None,
        now=lambda: datetime.now(UTC),
    )


def by_user(result: RoundResult) -> dict[str, Any]:
    return {s.user_id: s for s in result.sessions}


@pytest_asyncio.fixture
async def graphql() -> AsyncIterator[tuple[GraphqlServer, str]]:
    server = GraphqlServer()
    async with serve(
        server.handler, "127.0.0.1", 0,
        select_subprotocol=server.select, process_request=server.process_request,
    ) as ws:  # fmt: skip
        yield server, f"ws://127.0.0.1:{ws.sockets[0].getsockname()[1]}/graphql"


@pytest_asyncio.fixture
async def realtime() -> AsyncIterator[tuple[RealtimeServer, str]]:
    server = RealtimeServer(API_KEY)

    def check(connection: Any, request: Any) -> Response | None:
        if server.authorised(request.headers.get("Authorization", "")):
            return None
        body = b'{"error": {"type": "invalid_request_error", "code": "invalid_api_key"}}'
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return Response(401, "Unauthorized", headers, body)

    async with serve(server.handler, "127.0.0.1", 0, process_request=check) as ws:
        port = ws.sockets[0].getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"


@pytest_asyncio.fixture
async def socketio_server() -> AsyncIterator[tuple[SocketIoServer, str]]:
    server = SocketIoServer()
    async with serve(server.handler, "127.0.0.1", 0) as ws:
        yield server, f"ws://127.0.0.1:{ws.sockets[0].getsockname()[1]}/socket.io/"


def with_header(profile: Profile, name: str, value: str) -> Profile:
    connect = replace(profile.connect, headers=(*profile.connect.headers, (name, value)))
    return replace(profile, connect=connect)
