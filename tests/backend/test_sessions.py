"""Sessions over the wire: agent runs, threads, ownership, error replies."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import pytest
from websockets.protocol import State

from backend.config import BackendConfig


@pytest.mark.asyncio
async def test_chat_streams_a_complete_run_with_db_timings(
    users: Any, run_chat: Any, complete: Any
) -> None:
    ws = await users.connect("alice")
    events = await run_chat(ws, "what is 6 * 7?", ref="q1")
    complete(events, "alice")
    assert [e["type"] for e in events] == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_thinking",
        "agent_completed",
    ]
    assert events[2]["tool"] == events[3]["tool"] == "calculator"
    assert events[3]["result"] == "42"
    assert all(e["ref"] == "q1" and isinstance(e["ts"], float) for e in events)
    assert set(events[-1]["db_ms"]) == {"thread_create", "result_store"}
    assert "42" in events[-1]["answer"]


@pytest.mark.asyncio
async def test_search_tool_finds_only_the_users_own_messages(
    users: Any, ask: Any, run_chat: Any
) -> None:
    alice, bob = await users.connect("alice"), await users.connect("bob")
    for ws, text in ((alice, "the apple harvest"), (bob, "bob likes apple pie")):
        thread = await ask(ws, {"type": "create_thread", "id": "t"})
        await ask(
            ws,
            {
                "type": "post_messages",
                "id": "p",
                "thread_id": thread["thread_id"],
                "messages": [text],
            },
        )
    events = await run_chat(alice, "search for apple")
    result = next(e["result"] for e in events if e["type"] == "tool_completed")
    assert result == "1 message(s) mention 'apple': the apple harvest"
    assert "data_retrieval" in events[-1]["db_ms"]


@pytest.mark.asyncio
async def test_fifty_concurrent_users_complete_isolated_runs(
    config: BackendConfig, start: Any, users: Any, run_chat: Any, complete: Any
) -> None:
    async with start(config, step_delay_ms=5) as srv:
        users.url = srv.url
        sockets = await asyncio.gather(*(users.connect(f"user-{i}") for i in range(50)))
        runs = await asyncio.gather(
            *(run_chat(ws, f"user {i} asks {i} + {i}") for i, ws in enumerate(sockets))
        )
        for i, events in enumerate(runs):
            complete(events, f"user-{i}")
            assert events[3]["result"] == str(2 * i)
        assert len({events[0]["run_id"] for events in runs}) == 50
        assert len({events[0]["thread_id"] for events in runs}) == 50
        await users.close_all()


@pytest.mark.asyncio
async def test_threads_store_batches_and_read_back(users: Any, ask: Any, run_chat: Any) -> None:
    ws = await users.connect("alice")
    created = await ask(ws, {"type": "create_thread", "id": "t1", "title": "plans"})
    assert created["type"] == "thread_created" and isinstance(created["db_ms"], float)
    thread_id = created["thread_id"]
    stored = await ask(
        ws,
        {
            "type": "post_messages",
            "id": "p1",
            "thread_id": thread_id,
            "messages": [f"m{i}" for i in range(100)],
        },
    )
    assert (stored["type"], stored["count"], stored["thread_id"]) == (
        "messages_stored",
        100,
        thread_id,
    )
    events = await run_chat(ws, "hello", thread_id=thread_id)
    assert {e["thread_id"] for e in events} == {thread_id}
    thread = await ask(ws, {"type": "get_thread", "id": "g1", "thread_id": thread_id})
    assert thread["type"] == "thread" and thread["title"] == "plans"
    assert [m["text"] for m in thread["messages"]] == [f"m{i}" for i in range(100)]
    assert [r["run_id"] for r in thread["results"]] == [events[0]["run_id"]]
    assert thread["results"][0]["answer"] == events[-1]["answer"]


@pytest.mark.asyncio
async def test_a_thread_reply_carries_any_text_exactly(users: Any, ask: Any, run_chat: Any) -> None:
    """The thread's arrays are JSON built by the database: quotes, backslashes, control
    characters, non-ASCII and emoji come back as they were posted, in order."""
    ws = await users.connect("alice")
    created = await ask(ws, {"type": "create_thread", "id": "t"})
    texts = ['say "hi"', "back\\slash", "line\nbreak\r\t\x00\x1f", "é ü ß", "🙂 ∑", "</script>"]
    await ask(ws, {"type": "post_messages", "id": "p", "thread_id": created["thread_id"],
                   "messages": texts})  # fmt: skip
    events = await run_chat(ws, "what is 2 + 2", thread_id=created["thread_id"])
    thread = await ask(ws, {"type": "get_thread", "id": "g", "thread_id": created["thread_id"]})
    assert [m["text"] for m in thread["messages"]] == texts
    assert all(isinstance(m["ts"], float) for m in thread["messages"])
    [result] = thread["results"]
    assert (result["prompt"], result["answer"]) == ("what is 2 + 2", events[-1]["answer"])
    assert isinstance(result["tools"], list) and result["tools"]
    assert (thread["ref"], thread["thread_id"]) == ("g", created["thread_id"])
    assert isinstance(thread["db_ms"], float) and isinstance(thread["ts"], float)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "message",
    [
        {"type": "get_thread", "id": "x"},
        {"type": "post_messages", "id": "x", "messages": ["a"]},
        {"type": "chat", "id": "x", "text": "hi"},
    ],
)
async def test_another_users_thread_is_forbidden_and_reveals_nothing(
    users: Any, ask: Any, message: dict[str, Any]
) -> None:
    alice, mallory = await users.connect("alice"), await users.connect("mallory")
    thread = await ask(alice, {"type": "create_thread", "id": "t", "title": "secret plans"})
    await ask(
        alice,
        {
            "type": "post_messages",
            "id": "p",
            "thread_id": thread["thread_id"],
            "messages": ["the secret"],
        },
    )
    reply = await ask(mallory, {**message, "thread_id": thread["thread_id"]})
    assert {k: v for k, v in reply.items() if k != "ts"} == {
        "type": "error",
        "ref": "x",
        "code": "forbidden",
        "message": "this thread belongs to another user",
    }


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "message",
    [
        {"type": "get_thread", "id": "x"},
        {"type": "post_messages", "id": "x", "messages": ["a"]},
        {"type": "chat", "id": "x", "text": "hi"},
    ],
)
async def test_unknown_thread_is_not_found(users: Any, ask: Any, message: dict[str, Any]) -> None:
    ws = await users.connect("alice")
    reply = await ask(ws, {**message, "thread_id": "0" * 32})
    assert (reply["type"], reply["code"], reply["message"]) == (
        "error",
        "not_found",
        "no such thread",
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("frame", "code", "message", "ref"),
    [
        ("{oops", "bad_request", "invalid JSON", None),
        ('"just a string"', "bad_request", "message must be a JSON object", None),
        ('{"type": "teleport", "id": "u1"}', "bad_request", "unknown type: 'teleport'", "u1"),
        ('{"type": "chat", "id": "m1"}', "bad_request", "missing field: text", "m1"),
        ('{"type": "get_thread", "id": "m2"}', "bad_request", "missing field: thread_id", "m2"),
        ('{"type": "chat", "text": "hi"}', "bad_request", "missing field: id", None),
        (
            json.dumps(
                {"type": "post_messages", "id": "b1", "thread_id": "t", "messages": ["m"] * 101}
            ),
            "too_large",
            "at most 100 messages per batch, got 101",
            "b1",
        ),
    ],
)
async def test_bad_requests_get_an_error_and_the_connection_stays_open(
    users: Any, run_chat: Any, complete: Any, frame: str, code: str, message: str, ref: str | None
) -> None:
    ws = await users.connect("alice")
    await ws.send(frame)
    reply = json.loads(await ws.recv())
    assert (reply["type"], reply["code"], reply["message"], reply["ref"]) == (
        "error",
        code,
        message,
        ref,
    )
    assert ws.state is State.OPEN
    complete(await run_chat(ws, "still here?"), "alice")


@pytest.mark.asyncio
async def test_requests_beyond_the_in_flight_limit_are_rate_limited(
    config: BackendConfig, start: Any, users: Any
) -> None:
    async with start(config, max_inflight=1, step_delay_ms=100) as srv:
        users.url = srv.url
        ws = await users.connect("alice")
        await ws.send(json.dumps({"type": "chat", "id": "slow", "text": "hi"}))
        await ws.send(json.dumps({"type": "create_thread", "id": "extra"}))
        replies = {}
        while "extra" not in replies or "slow" not in replies:
            event = json.loads(await ws.recv())
            if event["type"] in ("error", "agent_completed"):
                replies[event["ref"]] = event
        assert replies["extra"]["code"] == "rate_limited"
        assert replies["extra"]["message"] == "too many requests in flight (limit 1)"
        assert replies["slow"]["type"] == "agent_completed"
        await users.close_all()


@pytest.mark.asyncio
async def test_a_broken_database_gets_internal_and_the_connection_stays_open(
    backend: Any, config: BackendConfig, users: Any, ask: Any, run_chat: Any
) -> None:
    ws = await users.connect("alice")
    thread = await ask(ws, {"type": "create_thread", "id": "t"})
    with sqlite3.connect(config.db_path) as conn:  # another process could do the same
        conn.execute("DROP TABLE results")
    events = await run_chat(ws, "hello", thread_id=thread["thread_id"])
    assert events[0]["type"] == "agent_started"
    assert (events[-1]["type"], events[-1]["code"], events[-1]["message"]) == (
        "error",
        "internal",
        "internal error",
    )
    assert ws.state is State.OPEN
    stored = await ask(
        ws,
        {
            "type": "post_messages",
            "id": "p",
            "thread_id": thread["thread_id"],
            "messages": ["still works"],
        },
    )
    assert stored["count"] == 1
