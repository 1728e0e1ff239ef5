"""One session against the tests' own faulty protocol server: each fault shows in the record."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from probes.records import AuthMode, SessionResult
from probes.target.session import SessionSpec, run_session
from probes.target.tokens import bad_token, mint_token

if TYPE_CHECKING:
    from tests.probes_wire.conftest import FaultyServer

ALL = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
STREAM = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_thinking",
    "agent_completed",
)
AFTER_TWO = ("tool_executing", "tool_completed", "agent_completed")
QUICK_TIMEOUT_S = 0.3  # for faults where nothing ever comes: the session must give up


def spec_for(
    url: str,
    secret: str,
    user_id: str = "alice",
    *,
    auth: AuthMode = "header",
    timeout_s: float = 5.0,
) -> SessionSpec:
    token = mint_token(secret, user_id, now=time.time())
    return SessionSpec(
        run_id="run-test",
        probe="wire",
        target=url,
        runner="tests",
        user_id=user_id,
        token=token,
        auth_mode=auth,
        message="What is 12 * 7?",
        expected_events=ALL,
        timeout_s=timeout_s,
    )


async def session_with(server: FaultyServer, fault: str, **kw: Any) -> SessionResult:
    server.faults["alice"] = fault
    return await run_session(spec_for(server.url, server.secret, **kw))


@pytest.mark.asyncio
@pytest.mark.parametrize("auth", ["header", "subprotocol"])
async def test_clean_server_gives_an_ok_record(server: FaultyServer, auth: AuthMode) -> None:
    result = await run_session(spec_for(server.url, server.secret, auth=auth))
    assert (result.outcome, result.reason, result.error) == ("ok", None, "")
    assert (result.close_code, result.close_reason, result.sent_close_code) == (1000, "", 1000)
    assert result.http_status is None
    assert tuple(e.type for e in result.events) == STREAM
    assert tuple(e.seq for e in result.events) == (1, 2, 3, 4, 5, 6)
    assert not any(e.foreign for e in result.events)
    assert all(e.server_ts is not None for e in result.events)
    assert (result.missing_events, result.order_ok, result.seq_gaps, result.foreign_events) == (
        (),
        True,
        0,
        0,
    )
    assert result.complete
    assert result.agent_run_id is not None and result.agent_run_id.startswith("run-")
    assert result.db_ms == {"result_store": server.result_store_ms}
    assert (result.auth_mode, result.user_id, result.run_id, result.probe) == (
        auth,
        "alice",
        "run-test",
        "wire",
    )


@pytest.mark.asyncio
async def test_record_times_are_measured_from_connect_and_from_the_chat(
    server: FaultyServer,
) -> None:
    result = await run_session(spec_for(server.url, server.secret))
    assert result.started_at.tzinfo is UTC
    assert result.started_at <= datetime.now(UTC)
    assert result.connect_ms is not None and result.first_event_ms is not None
    assert result.completion_ms is not None and result.total_ms is not None
    # Causal order, not speed: chat sent after connect, first event before completion.
    assert result.connect_ms > 0
    assert 0 < result.first_event_ms <= result.completion_ms
    assert result.total_ms == result.completion_ms  # PROFILES.md: chat sent -> done
    ms = [e.ms for e in result.events]
    assert ms == sorted(ms) and ms[0] > result.connect_ms


# fault -> reason, received close code, missing, order_ok, seq_gaps, foreign, error
FAULTS = [
    (
        "close_1011",
        "closed_abnormally",
        1011,
        AFTER_TWO,
        False,
        0,
        0,
        "closed_abnormally: closed with 1011 (agent crashed)",
    ),
    (
        "drop_event",
        "incomplete",
        1000,
        ("tool_completed",),
        False,
        1,
        0,
        "incomplete: missing tool_completed",
    ),
    (
        "reorder",
        "out_of_order",
        1000,
        (),
        False,
        0,
        0,
        "out_of_order: events out of protocol order",
    ),
    ("seq_gap", "out_of_order", 1000, (), True, 1, 0, "out_of_order: 1 seq gap(s)"),
    (
        "cross_talk",
        "isolation_breach",
        1000,
        (),
        True,
        0,
        1,
        "isolation_breach: 1 event(s) of another user, thread or run (from intruder)",
    ),
    (
        "foreign_run",
        "isolation_breach",
        1000,
        (),
        True,
        0,
        1,
        "isolation_breach: 1 event(s) of another user, thread or run",
    ),
    (
        "drop_connection",
        "closed_abnormally",
        1006,
        AFTER_TWO,
        False,
        0,
        0,
        "closed_abnormally: closed with 1006",
    ),
    (
        "close_1000_early",
        "incomplete",
        1000,
        AFTER_TWO,
        False,
        0,
        0,
        "incomplete: missing " + ", ".join(AFTER_TWO),
    ),
    (
        "binary",
        "protocol_error",
        1000,
        (),
        True,
        0,
        0,
        "protocol_error: binary frame (v1 is text only)",
    ),
    (
        "error_reply",
        "incomplete",
        1000,
        ALL,
        False,
        0,
        0,
        "incomplete: missing " + ", ".join(ALL) + "; server said internal: agent failed",
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fault", "reason", "close_code", "missing", "order_ok", "gaps", "foreign", "error"),
    FAULTS,
    ids=[f[0] for f in FAULTS],
)
async def test_each_fault_shows_in_the_record(
    server: FaultyServer,
    fault: str,
    reason: str,
    close_code: int,
    missing: tuple[str, ...],
    order_ok: bool,
    gaps: int,
    foreign: int,
    error: str,
) -> None:
    result = await session_with(server, fault)
    assert (result.outcome, result.reason, result.error) == ("failed", reason, error)
    assert result.close_code == close_code
    assert result.missing_events == missing
    assert (result.order_ok, result.seq_gaps, result.foreign_events) == (order_ok, gaps, foreign)
    assert result.http_status is None


@pytest.mark.asyncio
async def test_a_frame_that_is_not_json_is_a_protocol_error(server: FaultyServer) -> None:
    result = await session_with(server, "not_json")
    assert (result.outcome, result.reason) == ("failed", "protocol_error")
    assert result.error.startswith("protocol_error: frame is not JSON: Expecting value")
    assert (result.missing_events, result.order_ok, result.close_code) == ((), True, 1000)


@pytest.mark.asyncio
async def test_another_users_event_is_flagged_in_the_timeline(server: FaultyServer) -> None:
    result = await session_with(server, "cross_talk")
    assert [(e.type, e.foreign) for e in result.events if e.foreign] == [("agent_thinking", True)]
    assert len(result.events) == 7


@pytest.mark.asyncio
async def test_a_close_without_close_frame_is_1006_and_nothing_was_sent(
    server: FaultyServer,
) -> None:
    result = await session_with(server, "drop_connection")
    assert (result.close_code, result.sent_close_code) == (1006, None)
    assert [e.type for e in result.events] == ["agent_started", "agent_thinking"]


@pytest.mark.asyncio
async def test_a_server_that_never_answers_the_chat_times_out_and_is_closed_1000(
    server: FaultyServer,
) -> None:
    result = await session_with(server, "silent", timeout_s=QUICK_TIMEOUT_S)
    assert (result.outcome, result.reason) == ("failed", "timeout")
    assert result.error == "timeout: the run did not finish within 0.3 s"
    assert (result.close_code, result.sent_close_code) == (1000, 1000)
    assert (result.events, result.missing_events, result.first_event_ms) == ((), ALL, None)
    assert result.connect_ms is not None


@pytest.mark.asyncio
async def test_a_handshake_that_never_finishes_times_out(server: FaultyServer) -> None:
    result = await session_with(server, "hang_handshake", timeout_s=QUICK_TIMEOUT_S)
    assert (result.outcome, result.reason) == ("failed", "timeout")
    assert result.error == "timeout: the handshake did not finish within 0.3 s"
    assert (result.connect_ms, result.close_code, result.sent_close_code) == (None, None, None)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [401, 503])
async def test_a_refused_handshake_records_the_http_status(
    server: FaultyServer, status: int
) -> None:
    result = await session_with(server, f"refuse_{status}")
    assert (result.outcome, result.reason, result.http_status) == ("failed", "refused", status)
    assert result.error.startswith(f"refused: HTTP {status} {{")
    assert (result.close_code, result.connect_ms, result.events) == (None, None, ())


@pytest.mark.asyncio
async def test_a_bad_token_is_refused_with_401(server: FaultyServer) -> None:
    spec = spec_for(server.url, server.secret)
    result = await run_session(
        SessionSpec(**{**_fields(spec), "token": bad_token("alice", now=time.time())})
    )
    assert (result.reason, result.http_status) == ("refused", 401)
    assert '"error": "unauthorized"' in result.error


@pytest.mark.asyncio
async def test_a_delayed_event_still_completes_and_the_delay_shows(server: FaultyServer) -> None:
    result = await session_with(server, "delay")
    assert (result.outcome, result.reason) == ("ok", None)
    assert result.completion_ms is not None
    # The server got the chat after it was sent and then waited before sending
    # agent_completed: causally, not by timing, completion took at least that long.
    assert result.completion_ms >= server.delay_s * 1000


@pytest.mark.asyncio
async def test_a_down_target_gives_a_failed_record_not_an_exception(down_url: str) -> None:
    result = await run_session(spec_for(down_url, "s" * 32))
    assert (result.outcome, result.reason) == ("failed", "connect_error")
    assert result.error.startswith("connect_error: ConnectionRefusedError: ")
    assert (result.close_code, result.http_status, result.connect_ms, result.events) == (
        None,
        None,
        None,
        (),
    )
    assert result.missing_events == ALL and result.total_ms is None  # no done came


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ws://[::1", "connect_error: invalid target: Invalid IPv6 URL"),
        ("http://127.0.0.1/ws", "connect_error: InvalidURI: http://127.0.0.1/ws isn't a valid URI"),
    ],
)
async def test_an_unusable_target_url_gives_a_connect_error(url: str, error: str) -> None:
    result = await run_session(spec_for(url, "s" * 32))
    assert (result.outcome, result.reason) == ("failed", "connect_error")
    assert result.error.startswith(error)


def _fields(spec: SessionSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in SessionSpec.__slots__}
