"""The agent-chat server: handshake (HTTP routes, auth, limits), sessions, lifecycle.

`running(config)` builds every part from one `BackendConfig`, serves on
`config.host:config.port` (port 0 picks a free one) and, on exit, closes all
sessions with the configured close code (1001, or 1012 for a restart).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psutil
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from backend.agent import SimulatedAgent
from backend.auth import SUBPROTOCOL_TOKEN_PREFIX, AuthError, TokenVerifier, request_token
from backend.config import SERVICE_RESTART, BackendConfig
from backend.connection import RoutedConnection, Slots, connection_class
from backend.faults import FaultBox, db_delay_ms, should_reject_handshake
from backend.headers import DuplicateHeader, single_valued
from backend.httpapi import HttpApi, HttpReply, HttpRequest
from backend.limits import Budget, Budgets
from backend.responses import json_response
from backend.session import Limits, Peers, Services, Session
from backend.store import Store

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("agent-chat.v1")


def backend_version() -> str:
    """The installed slawatch version, for /healthz."""
    try:
        return importlib.metadata.version("slawatch")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def select_subprotocol(
    _connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Pick `agent-chat.v1` when offered; never echo a `bearer.<token>` entry."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def offered_subprotocols(request: Request) -> list[str]:
    """Every subprotocol the client offered, over all `Sec-WebSocket-Protocol` headers.

    Raises `DuplicateHeader` when more than one `bearer.<token>` entry is offered:
    which credential counts would be a guess.
    """
    values = request.headers.get_all("Sec-WebSocket-Protocol")
    offered = [item.strip() for value in values for item in value.split(",") if item.strip()]
    if sum(item.startswith(SUBPROTOCOL_TOKEN_PREFIX) for item in offered) > 1:
        raise DuplicateHeader("bearer.<token> subprotocol")
    return offered


def _bad_request(message: str) -> HttpReply:
    return HttpReply(400, {"error": "bad_request", "message": message})


class Handshake:
    """Decides each upgrade request: plain HTTP route, 503, 401, or a session."""

    def __init__(
        self,
        api: HttpApi,
        verifier: TokenVerifier,
        faults: FaultBox,
        slots: Slots,
        budgets: Budgets,
    ) -> None:
        self._api = api
        self._verifier = verifier
        self._faults = faults
        self._slots = slots
        self._budgets = budgets

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """websockets' hook: a Response refuses (or answers) the request; None upgrades."""
        try:
            headers = single_valued(request.headers.raw_items())
            offered = offered_subprotocols(request)
        except DuplicateHeader as exc:
            return json_response(_bad_request(str(exc)))
        routed = self._api.handle(HttpRequest("GET", request.path, headers))
        if routed is not None:
            return json_response(routed)
        faults = self._faults.current
        if should_reject_handshake(faults, self._faults.rng):
            return json_response(_unavailable("injected fault: reject_rate"))
        try:
            token = request_token(
                headers.get("authorization"), offered, use_header=not faults.strip_auth_header
            )
            identity = self._verifier.verify(token)
        except AuthError as exc:
            return json_response(HttpReply(401, {"error": "unauthorized", "reason": exc.reason}))
        budget = self._budgets.of(identity.user_id)
        over_budget = budget.admit()  # a connection costs a request
        if over_budget is not None:
            # answered late (at most PACE_MAX_S): a refused client cannot retry at once
            await asyncio.sleep(budget.pace_s())
            return json_response(HttpReply(429, {"error": "rate_limited", "reason": over_budget}))
        assert isinstance(connection, RoutedConnection)
        if not self._slots.take(connection):
            return json_response(_unavailable("too many connections"))
        connection.identity = identity
        return None


def _unavailable(reason: str) -> HttpReply:
    return HttpReply(503, {"error": "unavailable", "reason": reason})


@dataclass(frozen=True)
class RunningBackend:
    """A serving backend, as tests and `__main__` see it.

    `faults` is the live fault box (what `/admin/faults` changes), `peers` the
    open sessions, `slots` the connections holding a session slot (from the
    accepted handshake until the TCP connection is gone; /healthz counts these).
    """

    host: str
    port: int
    server: Server
    faults: FaultBox
    peers: Peers
    slots: Slots

    @property
    def url(self) -> str:
        """The WebSocket endpoint."""
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        """The base URL of the plain-HTTP routes."""
        return f"http://{self.host}:{self.port}"


def _health(slots: Slots, started: float) -> Callable[[], dict[str, Any]]:
    process, version = psutil.Process(), backend_version()

    def health() -> dict[str, Any]:
        return {
            "pid": process.pid,
            "rss_bytes": process.memory_info().rss,
            "uptime_s": round(time.monotonic() - started, 3),
            "connections": len(slots),
            "tasks": len(asyncio.all_tasks()),
            "version": version,
        }

    return health


def _limits(config: BackendConfig) -> Limits:
    return Limits(
        bad_request_limit=config.bad_request_limit,
        max_inflight=config.max_inflight,
        send_buffer_bytes=config.send_buffer_bytes,
        send_timeout_s=config.send_timeout_s,
        token_leeway_s=config.jwt_leeway_s,
    )


def _budget(config: BackendConfig) -> Budget:
    return Budget(
        rate=config.request_rate,
        burst=config.request_burst,
        bytes_rate=config.reply_kib_rate * 1024.0,
        bytes_burst=config.reply_kib_burst * 1024.0,
    )


@asynccontextmanager
async def running(config: BackendConfig) -> AsyncIterator[RunningBackend]:
    """Serve `config` until the block exits; then close every session and the store."""
    verifier = TokenVerifier(config.jwt_key, config.jwt_alg, config.jwt_leeway_s)
    faults = FaultBox(config.faults, config.fault_seed)
    store = Store(
        config.db_path,
        workers=config.db_workers,
        delay_ms=lambda operation: db_delay_ms(faults.current, operation),
    )
    peers, slots = Peers(), Slots(config.max_connections)
    budgets = Budgets(_budget(config))
    api = HttpApi(
        health=_health(slots, time.monotonic()), faults=faults, admin_token=config.admin_token
    )
    services = Services(
        store,
        SimulatedAgent(store.search_messages, config.step_delay_ms),
        faults,
        peers,
        _limits(config),
        budgets,
    )

    async def handler(ws: ServerConnection) -> None:
        assert isinstance(ws, RoutedConnection) and ws.identity is not None
        await Session(ws, ws.identity, services).serve()

    handshake = Handshake(api, verifier, faults, slots, budgets)
    try:
        server = await serve(
            handler,
            config.host,
            config.port,
            process_request=handshake.process_request,
            open_timeout=config.handshake_timeout_s,
            select_subprotocol=select_subprotocol,
            create_connection=connection_class(api, slots),
            compression=None,  # small JSON frames: deflate costs more CPU than it saves
            max_size=config.max_message_bytes,
            ping_interval=config.ping_interval_s,
            ping_timeout=config.ping_timeout_s,
            close_timeout=config.close_timeout_s,
        )
        try:
            host, port = server.sockets[0].getsockname()[:2]
            yield RunningBackend(host, port, server, faults, peers, slots)
        finally:
            restarting = config.stop_close_code == SERVICE_RESTART
            reason = "server restarting" if restarting else "server shutting down"
            server.close(code=config.stop_close_code, reason=reason)
            await server.wait_closed()
    finally:
        await store.aclose()
        log.info("backend stopped (pid %d)", os.getpid())
