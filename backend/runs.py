"""One chat request -> one agent run -> the protocol's numbered event stream.

The agent yields steps; this module adds what the protocol needs around
them (run id, thread id, user id, seq, ref), resolves the thread, stores the
run's result at the end and reports the DB time in `agent_completed`. The
`close_1011` and `leak_kb` faults act here, per run.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableSet
from dataclasses import dataclass
from typing import Any

from backend.agent import Agent, AgentRequest, Answer, Thinking, ToolFinished, ToolStarted
from backend.database import RunRecord, StoreError, ThreadForbidden, ThreadNotFound
from backend.faults import FaultBox, close_1011_after, leak_bytes
from backend.protocol import Chat, RequestError
from backend.store import Store

# agent_started, thinking, tool_executing, tool_completed, thinking, agent_completed
MIN_EVENTS_PER_RUN = 6
TITLE_CHARS = 60
INJECTED_1011 = "injected fault: close_1011"

Emit = Callable[[dict[str, Any]], Awaitable[None]]
Abort = Callable[[int, str], Awaitable[None]]


@dataclass(frozen=True)
class RunContext:
    """What a run needs from its session: who, where to store, how to send."""

    user_id: str
    store: Store
    agent: Agent
    faults: FaultBox
    emit: Emit
    abort: Abort
    known_threads: MutableSet[str]


class _Aborted(Exception):
    """The run's connection was closed on purpose (fault injection)."""


class EventStream:
    """Numbers and labels one run's events, and cuts the stream where a fault says."""

    def __init__(self, ctx: RunContext, ref: str, run_id: str, thread_id: str) -> None:
        self._ctx = ctx
        self._base = {"ref": ref, "run_id": run_id, "thread_id": thread_id, "user_id": ctx.user_id}
        self._seq = 0
        self._cut = close_1011_after(ctx.faults.current, ctx.faults.rng, MIN_EVENTS_PER_RUN)

    async def send(self, kind: str, **fields: Any) -> None:
        """Send the next event of the run, or close with 1011 where the fault cuts."""
        if self._cut is not None and self._seq >= self._cut:
            await self._ctx.abort(1011, INJECTED_1011)
            raise _Aborted
        self._seq += 1
        await self._ctx.emit({"type": kind, **self._base, "seq": self._seq, **fields})


async def run_chat(chat: Chat, ctx: RunContext) -> None:
    """Answer one chat with a complete event stream (unless a fault interferes)."""
    thread_id, db_ms = await resolve_thread(chat, ctx)
    run_id = uuid.uuid4().hex
    ctx.faults.leak(leak_bytes(ctx.faults.current))
    stream = EventStream(ctx, chat.id, run_id, thread_id)
    try:
        await stream.send("agent_started")
        request = AgentRequest(ctx.user_id, thread_id, chat.text)
        answer, tools = await _relay(stream, ctx.agent, request)
        record = RunRecord(run_id, ctx.user_id, thread_id, chat.text, answer.text, tools)
        stored = await ctx.store.store_result(record)
        db_ms.update(answer.db_ms)
        db_ms["result_store"] = stored.db_ms
        await stream.send("agent_completed", answer=answer.text, db_ms=db_ms)
    except _Aborted:
        return


async def _relay(
    stream: EventStream, agent: Agent, request: AgentRequest
) -> tuple[Answer, tuple[tuple[str, str], ...]]:
    answer: Answer | None = None
    tools: list[tuple[str, str]] = []
    async for step in agent.run(request):
        if isinstance(step, Thinking):
            await stream.send("agent_thinking", text=step.text)
        elif isinstance(step, ToolStarted):
            await stream.send("tool_executing", tool=step.tool, argument=step.argument)
        elif isinstance(step, ToolFinished):
            tools.append((step.tool, step.result))
            await stream.send("tool_completed", tool=step.tool, result=step.result)
        else:
            answer = step
    if answer is None:
        raise RuntimeError("the agent finished without an answer")
    return answer, tuple(tools)


async def resolve_thread(chat: Chat, ctx: RunContext) -> tuple[str, dict[str, float]]:
    """The run's thread: a new one, or the caller's own (checked once per session)."""
    if chat.thread_id is None:
        created = await ctx.store.create_thread(ctx.user_id, chat.text[:TITLE_CHARS] or None)
        ctx.known_threads.add(created.value)
        return created.value, {"thread_create": created.db_ms}
    if chat.thread_id in ctx.known_threads:
        return chat.thread_id, {}
    checked = await owned_thread(ctx, chat.thread_id, chat.id)
    return chat.thread_id, {"data_retrieval": checked}


async def owned_thread(ctx: RunContext, thread_id: str, ref: str) -> float:
    """Check the caller owns `thread_id`; raises forbidden / not_found as `RequestError`."""
    try:
        checked = await ctx.store.check_thread(ctx.user_id, thread_id)
    except StoreError as exc:
        raise refusal(exc, ref) from None
    ctx.known_threads.add(thread_id)
    return checked.db_ms


def refusal(exc: StoreError, ref: str) -> RequestError:
    """The protocol error for a store refusal; says nothing about the thread itself."""
    if isinstance(exc, ThreadForbidden):
        return RequestError("forbidden", FORBIDDEN_MESSAGE, ref)
    if isinstance(exc, ThreadNotFound):
        return RequestError("not_found", NOT_FOUND_MESSAGE, ref)
    return RequestError("internal", "storage error", ref)


FORBIDDEN_MESSAGE = "this thread belongs to another user"
NOT_FOUND_MESSAGE = "no such thread"
