"""A round: N users at once, the bad-token attempt, the database round trip, memory."""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from probes.config import ProbeSettings
from probes.records import DB_OPERATIONS, AuthCheck, RoundResult
from probes.target.memory import HealthzMemory
from probes.target.round import GC_GEN0_THRESHOLD, auth_mode_for, fewer_collections, run_round

if TYPE_CHECKING:
    from tests.probes_wire.conftest import FaultyServer

MB = 1024 * 1024


def probe_for(url: str, **changes: object) -> ProbeSettings:
    probe = ProbeSettings(name="wire", target=url, users=4, timeout_s=10.0, session_timeout_s=5.0)
    return replace(probe, memory_interval_s=0.05, **changes)  # type: ignore[arg-type]


async def round_on(server: FaultyServer, *, memory: bool = True, **changes: object) -> RoundResult:
    return await run_round(
        probe_for(server.url, **changes),
        run_id="round-1",
        runner="tests",
        secret=server.secret,
        memory=HealthzMemory(server.healthz) if memory else None,
        now=lambda: datetime.now(UTC),
    )


@pytest.mark.asyncio
async def test_a_clean_round_passes_with_every_check(server: FaultyServer) -> None:
    result = await round_on(server)
    assert result.status == "passed" and result.reason == ""
    assert [s.user_id for s in result.sessions] == [f"probe-user-{i}" for i in range(4)]
    assert [s.auth_mode for s in result.sessions] == [
        "header",
        "subprotocol",
        "header",
        "subprotocol",
    ]
    assert all(s.outcome == "ok" for s in result.sessions)
    assert {s.run_id for s in result.sessions} == {"round-1"}
    assert (result.run_id, result.probe, result.target, result.runner) == (
        "round-1",
        "wire",
        server.url,
        "tests",
    )
    assert result.started_at <= result.finished_at


@pytest.mark.asyncio
async def test_the_bad_token_attempt_is_ok_when_refused_with_401(server: FaultyServer) -> None:
    result = await round_on(server)
    assert result.auth_check == AuthCheck(http_status=401, close_code=None, ok=True, error="")


@pytest.mark.asyncio
async def test_a_bad_token_accepted_then_closed_1011_fails_the_round(server: FaultyServer) -> None:
    server.accept_bad_tokens = "close_1011"
    result = await round_on(server)
    assert result.auth_check == AuthCheck(
        http_status=101,
        close_code=1011,
        ok=False,
        error="accepted a bad token (HTTP 101), then closed with 1011",
    )
    assert result.status == "failed"
    assert all(s.outcome == "ok" for s in result.sessions)


@pytest.mark.asyncio
async def test_a_bad_token_accepted_and_kept_open_is_not_ok(server: FaultyServer) -> None:
    server.accept_bad_tokens = "keep_open"
    result = await round_on(server, users=1, db_check=False, memory=False)
    assert result.auth_check == AuthCheck(
        http_status=101,
        close_code=1000,  # the server's answer to the probe's own close
        ok=False,
        error="accepted a bad token (HTTP 101) and kept the socket open",
    )


@pytest.mark.asyncio
async def test_a_bad_token_refused_with_another_status_is_not_ok(server: FaultyServer) -> None:
    server.bad_token_status = 403
    result = await round_on(server)
    assert result.auth_check == AuthCheck(403, None, False, "refused: HTTP 403, expected 401")


@pytest.mark.asyncio
async def test_the_database_round_trip_records_client_and_server_ms(server: FaultyServer) -> None:
    result = await round_on(server)
    timings = {t.operation: t for t in result.db_timings}
    assert tuple(t.operation for t in result.db_timings) == DB_OPERATIONS
    assert all(t.ok and t.error == "" for t in result.db_timings)
    assert timings["thread_create"].server_ms == server.db_ms["create_thread"]
    assert timings["message_batch"].server_ms == server.db_ms["post_messages"]
    assert timings["data_retrieval"].server_ms == server.db_ms["get_thread"]
    assert timings["result_store"].server_ms == server.result_store_ms
    assert timings["result_store"].client_ms is None
    assert all(
        timings[op].client_ms is not None
        for op in ("thread_create", "message_batch", "data_retrieval")
    )


@pytest.mark.asyncio
async def test_a_database_error_reply_fails_that_step(server: FaultyServer) -> None:
    server.faults["probe-user-db"] = "db_forbidden"
    result = await round_on(server)
    retrieval = next(t for t in result.db_timings if t.operation == "data_retrieval")
    assert (retrieval.ok, retrieval.server_ms, retrieval.error) == (
        False,
        None,
        "server error forbidden: not yours",
    )
    assert result.status == "failed"


@pytest.mark.asyncio
async def test_checks_that_are_off_leave_no_record(server: FaultyServer) -> None:
    result = await round_on(server, bad_token_check=False, db_check=False, memory=False)
    assert (result.auth_check, result.db_timings, result.memory_samples) == (None, (), ())
    assert result.memory_source == ""
    assert result.status == "passed"


@pytest.mark.asyncio
async def test_memory_is_sampled_from_before_the_sessions_to_after(server: FaultyServer) -> None:
    server.leak_bytes_per_run = MB  # each chat keeps one MB, as a leaking server would
    result = await round_on(server)
    assert result.memory_source == "healthz"
    assert result.memory_baseline_mb == 200.5
    assert result.memory_after_mb == 204.5
    assert result.memory_peak_mb == 204.5
    assert result.memory_growth_mb == 4.0
    assert all(s.at.tzinfo is UTC for s in result.memory_samples)


@pytest.mark.asyncio
async def test_one_users_fault_fails_that_session_and_the_round(server: FaultyServer) -> None:
    server.faults["probe-user-2"] = "close_1011"
    result = await round_on(server)
    assert result.status == "failed"
    assert [(s.user_id, s.reason, s.close_code) for s in result.failed_sessions] == [
        ("probe-user-2", "closed_abnormally", 1011)
    ]


@pytest.mark.asyncio
async def test_auth_modes_follow_the_setting(server: FaultyServer) -> None:
    result = await round_on(server, auth="subprotocol", users=2)
    assert [s.auth_mode for s in result.sessions] == ["subprotocol", "subprotocol"]
    assert result.status == "passed"


@pytest.mark.asyncio
async def test_sessions_past_the_round_budget_are_recorded_as_timeout(server: FaultyServer) -> None:
    for i in range(4):
        server.faults[f"probe-user-{i}"] = "silent"
    result = await round_on(server, timeout_s=1.5, session_timeout_s=1.5, memory=False)
    assert [s.reason for s in result.sessions] == ["timeout"] * 4
    assert all(
        s.error.startswith("timeout: the run did not finish within 0.") for s in result.sessions
    )
    assert result.status == "failed"


@pytest.mark.asyncio
async def test_a_down_target_gives_an_error_round_whose_checks_are_no_data(down_url: str) -> None:
    result = await run_round(
        probe_for(down_url),
        run_id="round-down",
        runner="tests",
        secret="s" * 32,
        memory=HealthzMemory(down_url.replace("ws://", "http://").replace("/ws", "/healthz")),
        now=lambda: datetime.now(UTC),
    )
    assert result.status == "error"
    assert result.reason.startswith("target unreachable: ConnectionRefusedError")
    assert [s.reason for s in result.sessions] == ["connect_error"] * 4  # evidence kept
    # The bad-token and DB checks could not run: no data, not a refusal or a slow DB.
    assert result.auth_check is None
    assert result.db_timings == ()
    assert (result.memory_samples, result.memory_source) == ((), "")


def test_fewer_collections_raises_gen0_for_the_round_and_restores_it() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:])
        with fewer_collections():  # a concurrent round leaves it to the outer one
            assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
    assert gc.get_threshold() == before


@pytest.mark.parametrize(
    ("auth", "modes"),
    [
        ("both", ["header", "subprotocol", "header"]),
        ("header", ["header"] * 3),
        ("subprotocol", ["subprotocol"] * 3),
    ],
)
def test_auth_mode_for_user_index(auth: str, modes: list[str]) -> None:
    assert [auth_mode_for(auth, i) for i in range(3)] == modes
