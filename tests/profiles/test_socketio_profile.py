"""A Socket.IO profile (``socketio`` codec) against the tests' own Engine.IO v4 /
Socket.IO v5 server: pings answered mid-run, each fault shows as exactly that."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from probes.profiles.registry import load_file
from tests.profiles.conftest import by_user, probe_round
from tests.profiles.dialects import SocketIoServer

PROFILE = load_file(Path(__file__).with_name("socketio-chat.toml"))
FAULTS = {
    "u-1": "run_error",
    "u-2": "missing_done",
    "u-3": "done_failed",
    "u-4": "foreign_user",
    "u-5": "foreign_run",
    "u-6": "refuse",
    "u-7": "not_json",
    "u-8": "binary",
}
EXPECTED = {
    "u-0": (None, ""),
    "u-1": ("protocol_error", "protocol_error: server error internal: agent failed"),
    "u-2": ("timeout", "timeout: the run did not finish within 1.5 s"),
    "u-3": (
        "incomplete",
        'incomplete: missing run_done; server said run_done with 1.status "failed"',
    ),
    "u-4": ("isolation_breach", "isolation_breach: 1 event(s)"),
    "u-5": ("isolation_breach", "isolation_breach: 1 event(s)"),
    "u-6": ("refused", "refused: ?: not authorized (connect_error)"),
    "u-7": ("protocol_error", "protocol_error: Socket.IO packet is not JSON"),
    "u-8": ("protocol_error", "protocol_error: binary frame"),
    "u-9": (None, ""),
}


@pytest.mark.asyncio
async def test_each_socketio_fault_shows_as_exactly_that(
    socketio_server: tuple[SocketIoServer, str],
) -> None:
    server, url = socketio_server
    server.faults = dict(FAULTS)
    result = await probe_round(url, PROFILE, users=10)
    sessions = by_user(result)
    for user, (reason, error) in EXPECTED.items():
        assert (sessions[user].reason, sessions[user].error[: len(error)]) == (reason, error), user
    clean = sessions["u-0"]
    assert [e.type for e in clean.events] == ["connect", "run_started", "run_delta", "run_done"]
    assert (clean.seq_gaps, clean.order_ok, clean.close_code) == (0, True, 1000)
    assert server.pongs > 0 and server.dropped == 0  # the codec answered every ping
    assert result.auth_check is not None and result.auth_check.ok  # 44 for a bad token


@pytest.mark.asyncio
async def test_a_server_that_drops_a_client_whose_pongs_it_never_sees_shows_as_that() -> None:
    """Engine.IO's pingTimeout: the server hears no pong and drops the transport. The
    codec answers every ping (the other user completes through several), so the test
    server is told to lose one user's pongs; that user's record says what happened."""
    server = SocketIoServer(ping_interval_ms=50, ping_timeout_ms=100)
    server.deaf_to = {"u-1"}
    async with serve(server.handler, "127.0.0.1", 0) as ws:
        url = f"ws://127.0.0.1:{ws.sockets[0].getsockname()[1]}/socket.io/"
        result = await probe_round(url, PROFILE, users=2, bad_token_check=False)
    kept, dropped = by_user(result)["u-0"], by_user(result)["u-1"]
    assert (kept.reason, kept.close_code) == (None, 1000)
    assert (dropped.reason, dropped.close_code) == ("closed_abnormally", 1006)
    assert dropped.error == "closed_abnormally: closed with 1006"
    assert dropped.completion_ms is None and "run_done" in dropped.missing_events
    assert server.dropped == 1 and server.pongs >= 2  # u-0 answered a ping mid-run, twice or more
