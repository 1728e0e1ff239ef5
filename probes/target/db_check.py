"""The database round trip: create_thread -> post_messages -> get_thread, each timed.

agent-chat v1 only (PROTOCOL.md's requests): other profiles record no DB timings.
"""

from __future__ import annotations

import asyncio
import json
from time import perf_counter
from typing import Any
from uuid import uuid4

from websockets.asyncio.client import ClientConnection

from probes.profiles.registry import DEFAULT_PROFILE, builtin
from probes.records import AuthMode, DbTiming
from probes.target.connection import TARGET_ERRORS, classify, connect_as

DB_BATCH = 10  # messages in the message_batch step


async def _ask(ws: ClientConnection, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Send ``request`` and wait for the message answering it (``ref`` = its ``id``)."""
    started = perf_counter()
    await ws.send(json.dumps(request))
    while True:
        raw = await ws.recv()
        try:
            reply = json.loads(raw)
        except ValueError:
            continue
        if type(reply) is dict and reply.get("ref") == request["id"]:
            return reply, (perf_counter() - started) * 1000.0


def _timing(
    operation: str, reply: dict[str, Any], ms: float, expect: str, problem: str
) -> DbTiming:
    raw = reply.get("db_ms")
    server_ms = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
    if reply.get("type") == "error":
        problem = f"server error {reply.get('code')}: {reply.get('message', '')}"
    elif reply.get("type") != expect:
        problem = f"answered {reply.get('type')!r}, expected {expect!r}"
    elif server_ms is None:
        problem = problem or "no numeric db_ms in the reply"
    return DbTiming(operation, ms, server_ms, ok=not problem, error=problem)


async def _db_steps(ws: ClientConnection, done: list[DbTiming]) -> None:
    reply, ms = await _ask(ws, {"type": "create_thread", "id": uuid4().hex, "title": "slawatch"})
    done.append(_timing("thread_create", reply, ms, "thread_created", ""))
    thread_id = reply.get("thread_id")
    if not done[-1].ok or not isinstance(thread_id, str):
        return
    texts = [f"slawatch probe message {i}" for i in range(DB_BATCH)]
    request = {
        "type": "post_messages",
        "id": uuid4().hex,
        "thread_id": thread_id,
        "messages": texts,
    }
    reply, ms = await _ask(ws, request)
    count = reply.get("count")
    problem = "" if count == DB_BATCH else f"stored {count!r} of {DB_BATCH} messages"
    done.append(_timing("message_batch", reply, ms, "messages_stored", problem))
    reply, ms = await _ask(ws, {"type": "get_thread", "id": uuid4().hex, "thread_id": thread_id})
    messages = reply.get("messages")
    got = len(messages) if isinstance(messages, list) else None
    problem = (
        ""
        if got is not None and got >= DB_BATCH
        else f"returned {got!r} messages, posted {DB_BATCH}"
    )
    done.append(_timing("data_retrieval", reply, ms, "thread", problem))


async def check_database(
    target: str, token: str, auth_mode: AuthMode, timeout_s: float
) -> tuple[DbTiming, ...]:
    """create_thread -> post_messages (10) -> get_thread on a connection of its own.

    Returns thread_create, message_batch and data_retrieval timings; a step
    that never ran is recorded as not ok with why.
    """
    done: list[DbTiming] = []
    ws: ClientConnection | None = None
    problem = "not run: an earlier step failed"
    try:
        async with asyncio.timeout(timeout_s):
            ws = await connect_as(target, token, auth_mode, builtin(DEFAULT_PROFILE))
            await _db_steps(ws, done)
    except TARGET_ERRORS as exc:
        failure = classify(exc, connected=ws is not None, timeout_s=timeout_s)
        problem = f"{failure.reason}: {failure.detail}" if failure else "connection closed"
    if ws is not None:
        await ws.close()
    ran = {t.operation for t in done}
    missing = [
        DbTiming(op, None, None, False, problem)
        for op in ("thread_create", "message_batch", "data_retrieval")
        if op not in ran
    ]
    return (*done, *missing)
