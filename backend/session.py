"""One authenticated WebSocket connection: read frames, dispatch requests, send replies.

Each request runs in its own task (at most `max_inflight` per connection),
so one slow run never blocks the connection's other requests. Sending goes
through `Outbox`, which bounds what a connection may have waiting in its
write buffer and how long one send may take: a client that stops reading
is closed with 1008 ("slow reader") and cannot hold anyone else up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from backend.agent import Agent
from backend.auth import Identity
from backend.database import StoreError
from backend.faults import FaultBox, cross_talk_victim, send_delay_ms, should_drop
from backend.limits import Budgets
from backend.protocol import (
    Chat,
    CreateThread,
    PostMessages,
    Request,
    RequestError,
    encode,
    error,
    now_ms,
    parse_request,
    reply,
)
from backend.runs import RunContext, refusal, run_chat
from backend.store import Store

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003


@dataclass(frozen=True)
class Limits:
    """Per-connection limits, from the server configuration."""

    bad_request_limit: int = 10
    max_inflight: int = 8
    send_buffer_bytes: int = 1 << 20
    send_timeout_s: float = 10.0
    token_leeway_s: float = 10.0


class Peers:
    """The sessions currently open on one server (for `cross_talk` and /healthz)."""

    def __init__(self) -> None:
        # A dict keeps insertion order, so a seeded victim choice is reproducible.
        self._sessions: dict[Session, None] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, session: Session) -> None:
        """Register an open session."""
        self._sessions[session] = None

    def discard(self, session: Session) -> None:
        """Forget a session (idempotent)."""
        self._sessions.pop(session, None)

    def others(self, session: Session) -> list[Session]:
        """Every open session except `session`, oldest first."""
        return [s for s in self._sessions if s is not session]


@dataclass(frozen=True)
class Services:
    """What sessions share: storage, the agent, the fault switches, peers, users' budgets."""

    store: Store
    agent: Agent
    faults: FaultBox
    peers: Peers
    limits: Limits
    budgets: Budgets


class Outbox:
    """Sends text frames with a bounded write buffer and a send timeout."""

    def __init__(
        self,
        ws: ServerConnection,
        limits: Limits,
        on_slow: Callable[[str], None],
        on_send: Callable[[int], None],
    ):
        self._ws = ws
        self._limits = limits
        self._on_slow = on_slow
        self._on_send = on_send

    async def send(self, payload: str, *, charged: bool = False) -> None:
        """Send one frame; a client that cannot keep up gets `on_slow` instead.
        The frame is charged to the user's reply budget unless it already was."""
        if not charged:
            self._on_send(len(payload))
        transport = self._ws.transport
        buffered = transport.get_write_buffer_size()
        if buffered > self._limits.send_buffer_bytes:
            self._on_slow("slow reader: send buffer full")
            return
        if buffered + 4 * len(payload) < transport.get_write_buffer_limits()[1]:
            # Below the high-water mark a send cannot wait on the socket: skip the timer.
            await self._ws.send(payload)
            return
        try:
            async with asyncio.timeout(self._limits.send_timeout_s):
                await self._ws.send(payload)
        except TimeoutError:
            self._on_slow("slow reader: send timed out")


class Session:
    """The life of one connection after a successful handshake."""

    def __init__(self, ws: ServerConnection, identity: Identity, services: Services) -> None:
        self.user_id = identity.user_id
        self._ws = ws
        self._identity = identity
        self._services = services
        self._limits = services.limits
        self._outbox = Outbox(ws, services.limits, self._slow_reader, self._charge)
        self._tasks: set[asyncio.Task[None]] = set()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self._bad_in_row = 0
        self._run_ctx = RunContext(
            self.user_id,
            services.store,
            services.agent,
            services.faults,
            self.emit,
            self.close,
            set(),
        )

    async def serve(self) -> None:
        """Read frames until the connection closes; then stop this session's work."""
        self._services.peers.add(self)
        expiry = self._schedule_expiry()
        try:
            await self._read_loop()
        finally:
            self._services.peers.discard(self)
            expiry.cancel()
            for task in (*self._tasks, *self._deliveries):
                task.cancel()
            await asyncio.gather(
                *self._tasks, *self._deliveries, *self._closers, return_exceptions=True
            )

    async def _read_loop(self) -> None:
        budget = self._services.budgets
        while True:
            if (pace := budget.of(self.user_id).pace_s()) > 0:
                await asyncio.sleep(pace)  # a little over budget: read later, TCP holds it back
            try:
                data = await self._ws.recv()
            except ConnectionClosed:
                return
            if isinstance(data, bytes):
                await self.close(UNSUPPORTED_DATA, "binary frames are not supported")
                return
            try:
                if not await self._accept(data):
                    return
            except ConnectionClosed:
                return  # the client left before its reply (an error, say) could go out

    def _schedule_expiry(self) -> asyncio.TimerHandle:
        delay = self._identity.expires_at + self._limits.token_leeway_s - now_ms() / 1000.0
        loop = asyncio.get_running_loop()
        return loop.call_later(max(delay, 0.0), self.close_soon, POLICY_VIOLATION, "token expired")

    async def _accept(self, text: str) -> bool:
        """Parse and start one request; False once the session must end."""
        try:
            request = parse_request(text)
            over_budget = self._services.budgets.of(self.user_id).admit()
            if over_budget is not None:
                raise RequestError("rate_limited", over_budget, request.id)
            if len(self._tasks) >= self._limits.max_inflight:
                limit = self._limits.max_inflight
                raise RequestError(
                    "rate_limited", f"too many requests in flight (limit {limit})", request.id
                )
        except RequestError as exc:
            return await self._refuse(exc)
        self._bad_in_row = 0
        self._spawn(self._tasks, self._perform(request))
        return True

    async def _refuse(self, exc: RequestError) -> bool:
        self._bad_in_row += 1
        await self.emit(error(exc.ref, exc.code, exc.message))
        if self._bad_in_row >= self._limits.bad_request_limit:
            await self.close(POLICY_VIOLATION, "too many bad requests")
            return False
        return True

    def _spawn(self, tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _perform(self, request: Request) -> None:
        # The client may leave while the request runs or before its error reply goes
        # out: either way there is nobody to answer (and nothing to log).
        with contextlib.suppress(ConnectionClosed):
            try:
                await self._dispatch(request)
            except RequestError as exc:
                await self.emit(error(exc.ref, exc.code, exc.message))
            except StoreError as exc:
                refused = refusal(exc, request.id)
                await self.emit(error(refused.ref, refused.code, refused.message))
            except ConnectionClosed:
                pass
            except Exception:
                log.exception("request %s of user %s failed", request.id, self.user_id)
                await self.emit(error(request.id, "internal", "internal error"))

    async def _dispatch(self, request: Request) -> None:
        store, user = self._services.store, self.user_id
        if isinstance(request, Chat):
            await run_chat(request, self._run_ctx)
        elif isinstance(request, CreateThread):
            created = await store.create_thread(user, request.title)
            self._run_ctx.known_threads.add(created.value)
            await self.emit(
                reply("thread_created", request.id, thread_id=created.value, db_ms=created.db_ms)
            )
        elif isinstance(request, PostMessages):
            stored = await store.post_messages(user, request.thread_id, request.messages)
            await self.emit(
                reply("messages_stored", request.id, thread_id=request.thread_id,
                      count=stored.value, db_ms=stored.db_ms)
            )  # fmt: skip
        else:
            await self._get_thread(request.id, request.thread_id)

    async def _get_thread(self, ref: str, thread_id: str) -> None:
        """A thread's whole content: one at a time per user, each charged before the next
        starts (`backend.limits`), so pipelined reads cannot overdraw the reply budget."""
        budget = self._services.budgets.of(self.user_id)
        async with budget.heavy:
            if (debt := budget.in_debt()) is not None:
                raise RequestError("rate_limited", debt, ref)
            view = await self._services.store.get_thread(self.user_id, thread_id)
            thread = view.value
            payload = await self._prepare(
                reply("thread", ref, thread_id=thread.thread_id, title=thread.title,
                      db_ms=view.db_ms),
                raw={"messages": thread.messages_json, "results": thread.results_json},
            )  # fmt: skip
            if payload is None:
                return
            budget.charge(len(payload))  # before the user's next read may start
        # Sent outside the lock: a client that does not read is met by the next send's
        # full buffer (slow reader), not left holding its user's reads for the timeout.
        await self._outbox.send(payload, charged=True)

    async def emit(self, message: dict[str, Any]) -> None:
        """Send one server message, subject to the drop/delay/cross-talk faults."""
        payload = await self._prepare(message)
        if payload is not None:
            await self._outbox.send(payload)

    async def _prepare(
        self, message: dict[str, Any], raw: dict[str, str] | None = None
    ) -> str | None:
        """The frame to send (after the delay/drop/cross-talk faults), or None if dropped."""
        faults, rng = self._services.faults.current, self._services.faults.rng
        kind = message["type"]
        delay = send_delay_ms(faults, kind)
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        if should_drop(faults, rng, kind):
            return None
        message["ts"] = now_ms()
        payload = encode(message, raw)
        if faults.cross_talk > 0:
            victim = cross_talk_victim(faults, rng, self._services.peers.others(self))
            if victim is not None:
                victim.deliver_soon(payload)
        return payload

    def deliver_soon(self, payload: str) -> None:
        """Queue a frame from elsewhere (cross-talk) without waiting for it."""
        self._spawn(self._deliveries, self._deliver(payload))

    async def _deliver(self, payload: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._outbox.send(payload)

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with `code` and wait for the closing handshake."""
        await self._ws.close(code, reason)

    def close_soon(self, code: int, reason: str) -> None:
        """Close from a callback or another task without waiting."""
        self._spawn(self._closers, self.close(code, reason))

    def _charge(self, size: int) -> None:
        self._services.budgets.of(self.user_id).charge(size)

    def _slow_reader(self, reason: str) -> None:
        if self._closers:  # already closing: later sends meet the same full buffer
            return
        log.warning("closing the connection of user %s: %s", self.user_id, reason)
        self.close_soon(POLICY_VIOLATION, reason)
