"""One probe round: N users at once, a bad-token attempt, a database round trip,
and the target's memory through it all -> a ``RoundResult``.

Everything a round does is bounded by ``probe.timeout_s``: sessions still
running then end as ``timeout`` records. A down target gives a round of
failed records, never an exception.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from time import perf_counter
from typing import Any
from uuid import uuid4

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from probes.config import ProbeSettings
from probes.memory import MemorySource, sample_memory
from probes.records import (
    AuthCheck,
    AuthMode,
    DbTiming,
    MemorySample,
    RoundResult,
    SessionResult,
    round_status,
)
from probes.session import (
    CLOSE_GRACE_S,
    TARGET_ERRORS,
    SessionSpec,
    classify,
    connect_as,
    run_session,
)
from probes.tokens import bad_token, mint_token

GC_GEN0_THRESHOLD = 50_000  # during a round; measured: about a quarter less client CPU
MEMORY_RESERVE_S = 1.0  # kept back from the sessions for the "after" memory sample
AUTH_GRACE_S = 0.5  # how long an accepted bad-token socket is watched for the server's close
DB_BATCH = 10  # messages in the message_batch step


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic GC less often while a round runs, then restore its threshold.

    A round allocates many short-lived containers (frames, futures, decoded
    messages); at CPython's default gen0 threshold (700) a 1000-user round
    set off about 200 young, 20 middle and 2 full collections, the older ones
    rescanning every live connection's objects: 5 to 35 % of the client's CPU
    (docs/benchmarks.md). Only gen0 is raised, so cycles are still collected.
    Concurrent rounds leave it to the first: a round that finds the threshold
    already high does nothing.
    """
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 >= GC_GEN0_THRESHOLD:
        yield
        return
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
    try:
        yield
    finally:
        gc.set_threshold(gen0, gen1, gen2)


def auth_mode_for(auth: str, index: int) -> AuthMode:
    """``both`` alternates by user index: even users use the header, odd the subprotocol."""
    if auth == "both":
        return "header" if index % 2 == 0 else "subprotocol"
    return "subprotocol" if auth == "subprotocol" else "header"


async def check_bad_token(
    target: str, token: str, auth_mode: AuthMode, timeout_s: float
) -> AuthCheck:
    """Present a wrongly signed token: ok only when the handshake is refused with HTTP 401.

    An accepted socket is not ok whatever follows; it is watched for
    ``AUTH_GRACE_S`` to record how the server ends it (a 1011, say).
    """
    ws: ClientConnection | None = None
    try:
        async with asyncio.timeout(timeout_s):
            ws = await connect_as(target, token, auth_mode)
        async with asyncio.timeout(AUTH_GRACE_S):
            await ws.wait_closed()
    except InvalidStatus as exc:
        status = exc.response.status_code
        error = "" if status == 401 else f"refused: HTTP {status}, expected 401"
        return AuthCheck(http_status=status, close_code=None, ok=status == 401, error=error)
    except TARGET_ERRORS as exc:  # TimeoutError included: still open after the grace
        if ws is None:
            failure = classify(exc, connected=False, timeout_s=timeout_s)
            text = f"{failure.reason}: {failure.detail}" if failure else type(exc).__name__
            return AuthCheck(http_status=None, close_code=None, ok=False, error=text)
    closed_by_server = ws.close_code is not None
    await ws.close()
    if closed_by_server:
        error = f"accepted a bad token (HTTP 101), then closed with {ws.close_code}"
    else:
        error = "accepted a bad token (HTTP 101) and kept the socket open"
    return AuthCheck(http_status=101, close_code=ws.close_code, ok=False, error=error)


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
            ws = await connect_as(target, token, auth_mode)
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


def result_store(sessions: Sequence[SessionResult]) -> tuple[DbTiming, ...]:
    """The server's ``db_ms.result_store`` of the first user (by index) whose run reported one.

    Empty when no run got as far as ``agent_completed``: the store write was not
    observed, and a missing observation is not a slow database (the sessions'
    own records already carry that failure).
    """
    for s in sessions:
        if "result_store" in s.db_ms:
            return (DbTiming("result_store", None, s.db_ms["result_store"], ok=True),)
    return ()


def _ordered(timings: Sequence[DbTiming]) -> tuple[DbTiming, ...]:
    order = ("thread_create", "message_batch", "result_store", "data_retrieval")
    return tuple(sorted(timings, key=lambda t: order.index(t.operation)))


async def _start_memory(
    memory: MemorySource | None,
    probe: ProbeSettings,
    stop: asyncio.Event,
    now: Callable[[], datetime],
) -> asyncio.Task[tuple[MemorySample, ...]] | None:
    """Start sampling and return once the baseline is taken (or the sampler ended)."""
    if memory is None:
        return None
    started = asyncio.Event()
    sampler = asyncio.create_task(
        sample_memory(memory, probe.memory_interval_s, stop, started=started, now=now)
    )
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait([sampler, waiter], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    return sampler


async def _finish_memory(
    sampler: asyncio.Task[tuple[MemorySample, ...]] | None, stop: asyncio.Event, deadline: float
) -> tuple[MemorySample, ...]:
    """Take the "after" sample, within what is left of the round (none when it is too late)."""
    if sampler is None:
        return ()
    stop.set()
    try:
        return await asyncio.wait_for(sampler, max(0.0, deadline - perf_counter()))
    except TimeoutError:
        return ()


def _specs(
    probe: ProbeSettings, run_id: str, runner: str, secret: str, issued: float, timeout_s: float
) -> list[SessionSpec]:
    def token(user_id: str) -> str:
        ttl = probe.token_ttl_s
        return mint_token(secret, user_id, audience=probe.audience, ttl_s=ttl, now=issued)

    users = [f"{probe.user_prefix}-{i}" for i in range(probe.users)]
    return [
        SessionSpec(
            run_id=run_id,
            probe=probe.name,
            target=probe.target,
            runner=runner,
            user_id=user_id,
            token=token(user_id),
            auth_mode=auth_mode_for(probe.auth, i),
            message=probe.message,
            expected_events=probe.expected_events,
            timeout_s=timeout_s,
        )
        for i, user_id in enumerate(users)
    ]


async def _auth_check(probe: ProbeSettings, issued: float, timeout_s: float) -> AuthCheck | None:
    if not probe.bad_token_check:
        return None
    token = bad_token(f"{probe.user_prefix}-0", now=issued)
    return await check_bad_token(probe.target, token, auth_mode_for(probe.auth, 0), timeout_s)


async def _db_check(
    probe: ProbeSettings, secret: str, issued: float, timeout_s: float
) -> tuple[DbTiming, ...]:
    if not probe.db_check:
        return ()
    user_id = f"{probe.user_prefix}-db"
    ttl = probe.token_ttl_s
    token = mint_token(secret, user_id, audience=probe.audience, ttl_s=ttl, now=issued)
    return await check_database(probe.target, token, auth_mode_for(probe.auth, 0), timeout_s)


async def run_round(
    probe: ProbeSettings,
    *,
    run_id: str,
    runner: str,
    secret: str,
    memory: MemorySource | None,
    now: Callable[[], datetime],
) -> RoundResult:
    """Run one round of ``probe`` against its target; never raises for a target problem.

    The sessions, the bad-token attempt and the database round trip run at
    once; memory is sampled from before they start until they have ended.
    """
    started_at = now()
    deadline = perf_counter() + probe.timeout_s
    stop = asyncio.Event()
    sampler = await _start_memory(memory, probe, stop, now)
    reserve = CLOSE_GRACE_S + (MEMORY_RESERVE_S if sampler else 0.0)
    timeout_s = max(0.0, min(probe.session_timeout_s, deadline - perf_counter() - reserve))
    issued = now().timestamp()
    specs = _specs(probe, run_id, runner, secret, issued, timeout_s)
    with fewer_collections():
        results, auth_check, db = await asyncio.gather(
            asyncio.gather(*(run_session(spec) for spec in specs)),
            _auth_check(probe, issued, timeout_s),
            _db_check(probe, secret, issued, timeout_s),
        )
    samples = await _finish_memory(sampler, stop, deadline)
    sessions = tuple(results)
    db_timings = _ordered((*db, *result_store(sessions))) if probe.db_check else ()
    return RoundResult(
        run_id=run_id,
        probe=probe.name,
        target=probe.target,
        runner=runner,
        started_at=started_at,
        finished_at=now(),
        status=round_status(sessions, auth_check, db_timings),
        sessions=sessions,
        auth_check=auth_check,
        db_timings=db_timings,
        memory_samples=samples,
        memory_source=memory.kind if memory and samples else "",
    )
