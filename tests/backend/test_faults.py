"""Fault switches: parsing, pure seeded decisions, and each fault on and off over the wire."""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend.__main__ import build_config, build_parser
from backend.faults import (
    FaultError,
    Faults,
    close_1011_after,
    cross_talk_victim,
    db_delay_ms,
    faults_to_json,
    parse_assignments,
    parse_faults,
    send_delay_ms,
    should_drop,
    should_reject_handshake,
)
from backend.server import RunningBackend, running

SECRET = "test-secret-" + "x" * 64
ADMIN = "admin-token-for-tests"


@pytest.mark.parametrize(
    ("assignments", "expected"),
    [
        ([], Faults()),
        (["close_1011=0.25"], Faults(close_1011=0.25)),
        (
            ["drop_event=agent_completed:1.0,tool_completed:0.5"],
            Faults(drop_event=(("agent_completed", 1.0), ("tool_completed", 0.5))),
        ),
        (["delay_ms=agent_started:250"], Faults(delay_ms=(("agent_started", 250.0),))),
        (["db_delay_ms=5000"], Faults(db_delay_ms=(("*", 5000.0),))),
        (["db_delay_ms=thread_create:5000"], Faults(db_delay_ms=(("thread_create", 5000.0),))),
        (["leak_kb=64"], Faults(leak_kb=64)),
        (["cross_talk=1"], Faults(cross_talk=1.0)),
        (["strip_auth_header=true"], Faults(strip_auth_header=True)),
        (["reject_rate=0.1", "reject_rate=0.2"], Faults(reject_rate=0.2)),
    ],
)
def test_cli_assignments_parse_to_faults(assignments: list[str], expected: Faults) -> None:
    parsed = parse_assignments(assignments)
    assert parsed == expected
    assert parse_faults(faults_to_json(parsed)) == parsed


@pytest.mark.parametrize(
    ("assignment", "fault", "message"),
    [
        ("close_1011", "close_1011", "close_1011: expected NAME=VALUE"),
        ("close_1011=often", "close_1011", "close_1011: expected a number, got 'often'"),
        (
            "cross_talk=1.5",
            "cross_talk",
            "cross_talk: probability must be between 0 and 1, got '1.5'",
        ),
        (
            "drop_event=tool_completed:2",
            "drop_event",
            "drop_event: probability must be between 0 and 1, got '2'",
        ),
        (
            "delay_ms=agent_started:-1",
            "delay_ms",
            "delay_ms: milliseconds must be between 0 and 600000, got '-1'",
        ),
        (
            "db_delay_ms=sleep:5",
            "db_delay_ms",
            "db_delay_ms: unknown type 'sleep' "
            "(known: *, thread_create, message_batch, result_store, data_retrieval)",
        ),
        (
            "leak_kb=1.5",
            "leak_kb",
            "leak_kb: kilobytes must be a whole number 0..1048576, got '1.5'",
        ),
        ("reject_rate=nan", "reject_rate", "reject_rate: expected a finite number, got 'nan'"),
    ],
)
def test_bad_fault_values_name_the_fault(assignment: str, fault: str, message: str) -> None:
    with pytest.raises(FaultError) as caught:
        parse_assignments([assignment])
    assert (caught.value.fault, str(caught.value)) == (fault, message)


def test_decisions_are_reproducible_with_a_seed() -> None:
    faults = Faults(
        close_1011=0.5, drop_event=(("agent_thinking", 0.5),), cross_talk=0.5, reject_rate=0.5
    )

    def decisions(seed: int) -> list[object]:
        rng = random.Random(seed)
        return [
            (
                should_reject_handshake(faults, rng),
                should_drop(faults, rng, "agent_thinking"),
                close_1011_after(faults, rng, 6),
                cross_talk_victim(faults, rng, "abc"),
            )
            for _ in range(50)
        ]

    assert decisions(3) == decisions(3)
    assert decisions(3) != decisions(4)


def test_probability_zero_and_one_are_never_and_always() -> None:
    rng = random.Random(1)
    never, always = Faults(), Faults(drop_event=(("error", 1.0),), reject_rate=1.0)
    assert not any(should_drop(never, rng, "error") for _ in range(100))
    assert all(should_drop(always, rng, "error") for _ in range(100))
    assert not should_drop(always, rng, "thread")
    assert all(should_reject_handshake(always, rng) for _ in range(100))
    cuts = {close_1011_after(Faults(close_1011=1.0), rng, 6) for _ in range(200)}
    assert cuts == {1, 2, 3, 4, 5}
    assert cross_talk_victim(Faults(cross_talk=1.0), rng, []) is None


def test_per_type_values_fall_back_to_star() -> None:
    faults = parse_faults({"db_delay_ms": "*:10,thread_create:5000", "delay_ms": "thread:7"})
    assert db_delay_ms(faults, "thread_create") == 5000.0
    assert db_delay_ms(faults, "result_store") == 10.0
    assert send_delay_ms(faults, "thread") == 7.0
    assert send_delay_ms(faults, "agent_started") == 0.0


# --- each fault over the wire -------------------------------------------------------


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await ws.recv())


async def shows_close_1011(srv: RunningBackend, users: Any, tools: Any) -> None:
    ws = await users.connect("alice")
    await ws.send(json.dumps({"type": "chat", "id": "c", "text": "hi"}))
    seqs = []
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            seqs.append((await recv_json(ws))["seq"])
    assert caught.value.rcvd is not None
    assert (caught.value.rcvd.code, caught.value.rcvd.reason) == (
        1011,
        "injected fault: close_1011",
    )
    assert 1 <= len(seqs) <= 5 and seqs == list(range(1, len(seqs) + 1))


async def shows_drop_event(srv: RunningBackend, users: Any, tools: Any) -> None:
    events = await tools.run_chat(await users.connect("alice"), "hello")
    assert [e["type"] for e in events] == [
        "agent_started",
        "tool_executing",
        "tool_completed",
        "agent_completed",
    ]
    assert [e["seq"] for e in events] == [1, 3, 4, 6]


async def shows_delay_ms(srv: RunningBackend, users: Any, tools: Any) -> None:
    events = await tools.run_chat(await users.connect("alice"), "hello")
    tools.complete(events, "alice")
    # Server timestamps: the delayed event left at least 300 ms after the one before it.
    assert events[-1]["ts"] - events[-2]["ts"] >= 295


async def shows_db_delay_ms(srv: RunningBackend, users: Any, tools: Any) -> None:
    reply = await tools.ask(await users.connect("alice"), {"type": "create_thread", "id": "t"})
    assert reply["db_ms"] >= 200


async def shows_leak_kb(srv: RunningBackend, users: Any, tools: Any) -> None:
    before = (await tools.http_to(srv, "GET", "/healthz"))[1]["rss_bytes"]
    leaked = srv.faults.leaked_bytes
    ws = await users.connect("alice")
    for i in range(3):
        tools.complete(await tools.run_chat(ws, "hello", ref=f"r{i}"), "alice")
    assert srv.faults.leaked_bytes - leaked == 3 * 20 * 1024 * 1024
    after = (await tools.http_to(srv, "GET", "/healthz"))[1]["rss_bytes"]
    assert after - before >= 40 * 1024 * 1024


async def shows_cross_talk(srv: RunningBackend, users: Any, tools: Any) -> None:
    alice, bob = await users.connect("alice"), await users.connect("bob")
    events = await tools.run_chat(alice, "hello")
    foreign = await recv_json(bob)
    assert foreign["user_id"] == "alice" and foreign["run_id"] == events[0]["run_id"]


async def shows_strip_auth_header(srv: RunningBackend, users: Any, tools: Any) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await users.connect("alice", via="header")
    assert caught.value.response.status_code == 401
    assert json.loads(caught.value.response.body)["reason"] == "missing token"
    tools.complete(
        await tools.run_chat(await users.connect("alice", via="subprotocol"), "hi"), "alice"
    )


async def shows_reject_rate(srv: RunningBackend, users: Any, tools: Any) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await users.connect("alice")
    assert caught.value.response.status_code == 503
    assert json.loads(caught.value.response.body) == {
        "error": "unavailable",
        "reason": "injected fault: reject_rate",
    }


async def behaves_normally(srv: RunningBackend, users: Any, tools: Any) -> None:
    """No fault visible: complete runs, only one's own events, no DB delay, no leak."""
    leaked = srv.faults.leaked_bytes
    alice, bob = await users.connect("alice"), await users.connect("bob")
    tools.complete(await tools.run_chat(alice, "hello"), "alice")
    bob_events = await tools.run_chat(bob, "hello")
    tools.complete(bob_events, "bob")
    reply = await tools.ask(bob, {"type": "create_thread", "id": "t"})
    assert reply["type"] == "thread_created"
    assert srv.faults.leaked_bytes == leaked


Check = Callable[[RunningBackend, Any, Any], Awaitable[None]]
CASES: list[tuple[str, dict[str, Any], Check]] = [
    ("close_1011=1", {"close_1011": 1}, shows_close_1011),
    ("drop_event=agent_thinking:1", {"drop_event": "agent_thinking:1"}, shows_drop_event),
    ("delay_ms=agent_completed:300", {"delay_ms": {"agent_completed": 300}}, shows_delay_ms),
    ("db_delay_ms=200", {"db_delay_ms": 200}, shows_db_delay_ms),
    ("leak_kb=20480", {"leak_kb": 20480}, shows_leak_kb),
    ("cross_talk=1", {"cross_talk": 1.0}, shows_cross_talk),
    ("strip_auth_header=true", {"strip_auth_header": True}, shows_strip_auth_header),
    ("reject_rate=1", {"reject_rate": "1"}, shows_reject_rate),
]


class Tools:
    """The conftest helpers bundled for the scenario functions above."""

    def __init__(self, **helpers: Any) -> None:
        self.__dict__.update(helpers)


@pytest.fixture
def tools(run_chat: Any, ask: Any, complete: Any, http_to: Any) -> Tools:
    return Tools(run_chat=run_chat, ask=ask, complete=complete, http_to=http_to)


@pytest.mark.asyncio
@pytest.mark.parametrize(("cli", "body", "shows"), CASES, ids=[c[0] for c in CASES])
async def test_fault_switched_on_and_off_over_http(
    backend: RunningBackend,
    users: Any,
    tools: Tools,
    admin: Any,
    cli: str,
    body: dict[str, Any],
    shows: Check,
) -> None:
    assert (await admin(backend, "PUT", body))[0] == 200
    await shows(backend, users, tools)
    await users.close_all()
    users.opened.clear()
    assert await admin(backend, "DELETE") == (200, {"faults": {}})
    await behaves_normally(backend, users, tools)


@pytest.mark.asyncio
@pytest.mark.parametrize(("cli", "body", "shows"), CASES, ids=[c[0] for c in CASES])
async def test_fault_switched_on_by_the_fault_flag(
    tmp_path: Path,
    users: Any,
    tools: Tools,
    admin: Any,
    cli: str,
    body: dict[str, Any],
    shows: Check,
) -> None:
    argv = [
        "--port",
        "0",
        "--db",
        str(tmp_path / "cli.db"),
        "--step-delay-ms",
        "0",
        "--fault",
        cli,
        "--fault-seed",
        "5",
    ]
    environ = {"SLAWATCH_JWT_SECRET": SECRET, "SLAWATCH_ADMIN_TOKEN": ADMIN}
    config = build_config(build_parser().parse_args(argv), environ)
    assert config.faults == parse_faults(body)
    async with running(config) as srv:
        users.url = srv.url
        assert (await admin(srv, "GET"))[1]["faults"] == faults_to_json(config.faults)
        await shows(srv, users, tools)
        await users.close_all()
        users.opened.clear()
        assert (await admin(srv, "DELETE"))[0] == 200
        await behaves_normally(srv, users, tools)
        await users.close_all()
