"""Per-user budgets: over the request rate or the reply volume a request is refused
`rate_limited` before any work is done, reconnecting does not refill the budget,
other users are not affected, and a client that keeps pushing is closed with 1008.

Rates are set so low that nothing refills during a test: the assertions count
requests, never time.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend.config import BackendConfig
from backend.limits import Budget, Budgets

NO_REFILL = 1e-6  # per second


async def _replies(ws: Any, count: int) -> list[dict[str, Any]]:
    return [json.loads(await ws.recv()) for _ in range(count)]


@pytest.mark.asyncio
async def test_requests_over_the_rate_are_refused_then_the_client_is_closed(
    config: BackendConfig, start: Any, users: Any, ask: Any
) -> None:
    # the connection takes one request token, the five threads the rest
    limits = {"request_rate": NO_REFILL, "request_burst": 6, "bad_request_limit": 3}
    async with start(config, **limits) as srv:
        users.url = srv.url
        ws = await users.connect("abuser")
        for i in range(5):
            await ws.send(json.dumps({"type": "create_thread", "id": f"t{i}"}))
        assert {r["type"] for r in await _replies(ws, 5)} == {"thread_created"}
        for i in range(3):
            await ws.send(json.dumps({"type": "create_thread", "id": f"over{i}"}))
        refused = await _replies(ws, 3)
        assert {(r["code"], r["message"]) for r in refused} == {
            ("rate_limited", "too many requests (limit 1e-06 per second)")
        }
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "too many bad requests")

        with pytest.raises(InvalidStatus) as refused_again:  # reconnecting: the same budget
            await users.connect("abuser")
        response = refused_again.value.response
        assert response.status_code == 429
        assert json.loads(response.body) == {
            "error": "rate_limited",
            "reason": "too many requests (limit 1e-06 per second)",
        }
        other = await users.connect("bystander")
        assert (await ask(other, {"type": "create_thread", "id": "y"}))["type"] == "thread_created"


@pytest.mark.asyncio
async def test_reply_volume_over_the_budget_is_refused(
    config: BackendConfig, start: Any, users: Any, ask: Any
) -> None:
    limits = {"reply_kib_rate": NO_REFILL, "reply_kib_burst": 150.0}
    async with start(config, **limits) as srv:
        users.url = srv.url
        ws = await users.connect("reader")
        thread = (await ask(ws, {"type": "create_thread", "id": "t"}))["thread_id"]
        batch = {"type": "post_messages", "id": "p", "thread_id": thread}
        for part in ("a", "b"):  # a ~100 KB thread
            await ask(ws, {**batch, "id": part, "messages": [part * 1000] * 50})
        get = {"type": "get_thread", "thread_id": thread}
        first = await ask(ws, {**get, "id": "g1"})
        second = await ask(ws, {**get, "id": "g2"})  # allowed: the budget goes into debt
        third = await ask(ws, {**get, "id": "g3"})
        assert (first["type"], second["type"]) == ("thread", "thread")
        assert third == {
            "type": "error",
            "ref": "g3",
            "ts": third["ts"],
            "code": "rate_limited",
            "message": "too much reply data (limit 1e-06 KiB per second)",
        }


def test_budgets_refill_and_forget_users_that_are_full_again() -> None:
    now = [0.0]
    budgets = Budgets(
        Budget(rate=1.0, burst=2.0, bytes_rate=100.0, bytes_burst=100.0), lambda: now[0]
    )
    alice = budgets.of("alice")
    assert [alice.admit(), alice.admit()] == [None, None]
    assert alice.admit() == "too many requests (limit 1 per second)"
    now[0] = 1.0
    assert alice.admit() is None
    alice.charge(250)
    assert budgets.of("alice").admit() == "too much reply data (limit 0.0976562 KiB per second)"
    now[0] = 100.0
    budgets.of("bob")
    assert len(budgets) == 1, "alice's refilled budget was forgotten"
    assert budgets.of("alice").admit() is None


@pytest.mark.asyncio
async def test_pipelined_thread_reads_cannot_overdraw_the_reply_budget(
    config: BackendConfig, start: Any, users: Any, ask: Any
) -> None:
    """Eight `get_thread`s sent at once (the in-flight limit) are read one at a time per
    user, each after the one before was charged: past the burst they are refused, where
    before all eight passed the check before the first reply was charged."""
    limits = {"reply_kib_rate": NO_REFILL, "reply_kib_burst": 150.0, "bad_request_limit": 100}
    async with start(config, **limits) as srv:
        users.url = srv.url
        ws = await users.connect("reader")
        thread = (await ask(ws, {"type": "create_thread", "id": "t"}))["thread_id"]
        batch = {"type": "post_messages", "id": "p", "thread_id": thread}
        for part in ("a", "b"):  # a ~100 KB thread
            await ask(ws, {**batch, "id": part, "messages": [part * 1000] * 50})
        for i in range(8):
            await ws.send(json.dumps({"type": "get_thread", "id": f"g{i}", "thread_id": thread}))
        replies = {r["ref"]: r for r in await _replies(ws, 8)}
        # 150 KiB of burst: the first reply (~100 KB) leaves credit, the second goes into
        # debt, every later one is refused without reading the thread
        assert [replies[f"g{i}"]["type"] for i in range(8)] == ["thread"] * 2 + ["error"] * 6
        assert {replies[f"g{i}"]["code"] for i in range(2, 8)} == {"rate_limited"}
        other = await users.connect("bystander")
        assert (await ask(other, {"type": "create_thread", "id": "y"}))["type"] == "thread_created"


def test_a_user_reading_a_thread_is_not_forgotten() -> None:
    now = [0.0]
    budgets = Budgets(Budget(), lambda: now[0])
    alice = budgets.of("alice")
    asyncio.run(alice.heavy.acquire())
    now[0] = 100.0
    budgets.of("bob")  # sweeps: alice's buckets are full, but she is reading
    assert budgets.of("alice") is alice


@pytest.mark.asyncio
async def test_a_client_a_little_over_its_rate_is_slowed_down_not_refused(
    config: BackendConfig, start: Any, users: Any, ask: Any
) -> None:
    """Ten requests at once against a burst of 3 at 50/s: each is read once a token is
    there (a wait well under PACE_MAX_S), so all ten are served; none refused, no 1008."""
    async with start(config, request_rate=50.0, request_burst=3, bad_request_limit=2) as srv:
        users.url = srv.url
        ws = await users.connect("eager")
        for i in range(10):
            await ws.send(json.dumps({"type": "create_thread", "id": f"t{i}"}))
        assert {r["type"] for r in await _replies(ws, 10)} == {"thread_created"}
        assert (await ask(ws, {"type": "create_thread", "id": "more"}))["type"] == "thread_created"


def test_pace_is_the_wait_for_a_budget_when_short_and_none_when_long() -> None:
    now = [0.0]
    budgets = Budgets(
        Budget(rate=10.0, burst=1.0, bytes_rate=1000.0, bytes_burst=1000.0), lambda: now[0]
    )
    alice = budgets.of("alice")
    assert alice.pace_s() == 0.0
    assert alice.admit() is None
    assert alice.pace_s() == pytest.approx(0.1)  # the next request token, at 10/s
    alice.charge(1500)  # 500 bytes in debt at 1000/s
    assert alice.pace_s() == pytest.approx(0.5)
    alice.charge(5000)  # 5.5 s away: longer than PACE_MAX_S, refused instead
    assert alice.pace_s() == 0.0
    assert alice.admit() == "too much reply data (limit 0.976562 KiB per second)"
