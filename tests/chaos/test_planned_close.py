"""Planned closes: a server that goes away (1001) or restarts (1012) mid-run. The
sessions are stored as ``planned_close`` (not ``closed_abnormally``), left out of
session_success's valid events unless ``count_planned_closes``, and still valid
events of no_internal_errors; a 1011 stays an abnormal close."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
import pytest_asyncio
from websockets.asyncio.server import ServerConnection, serve

from probes.config import SloSettings
from probes.records import Filters, RoundResult
from probes.results import ResultStore
from tests.support.probing import probe_round

pytestmark = pytest.mark.asyncio


def _closing_with(code: int) -> Callable[[ServerConnection], object]:
    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            request = json.loads(raw)
            if request.get("type") == "chat":
                started = {"type": "agent_started", "ref": request["id"], "seq": 1}
                await ws.send(json.dumps(started))
                await ws.close(code, "server restarting")
                return

    return handler


@pytest_asyncio.fixture
async def closing_url() -> AsyncIterator[Callable[[int], object]]:
    servers = []

    async def start(code: int) -> str:
        server = await serve(_closing_with(code), "127.0.0.1", 0).__aenter__()
        servers.append(server)
        return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _round(url: str) -> RoundResult:
    return await probe_round(
        url, users=2, healthz="off", bad_token_check=False, db_check=False, timeout_s=10.0
    )


def _counts(store: ResultStore, r: RoundResult, sli: str, *, by_run: bool, **extra: object):
    slo = SloSettings(name=sli, sli=sli, objective=99.0, **extra)  # type: ignore[arg-type]
    since = r.started_at.replace(second=0, microsecond=0) - timedelta(minutes=1)
    until = since + timedelta(minutes=5)
    filters = Filters(run_ids=(r.run_id,)) if by_run else Filters()
    buckets = store.sli_counts(slo, since, until, filters)
    return sum(b.good for b in buckets), sum(b.valid for b in buckets)


@pytest.mark.parametrize("code", [1001, 1012])
@pytest.mark.parametrize("by_run", [False, True], ids=["rollup", "raw"])
async def test_a_planned_close_is_its_own_class_outside_the_session_budget(
    closing_url: Callable[[int], object], store_url: str, code: int, by_run: bool
) -> None:
    measured = await _round(await closing_url(code))  # type: ignore[misc]
    assert {(s.close_code, s.reason) for s in measured.sessions} == {(code, "planned_close")}
    assert all(s.error.startswith(f"planned_close: closed with {code}") for s in measured.sessions)
    with ResultStore.open(store_url) as store:
        store.save_round(measured)
        assert store.round(measured.run_id) == measured
        assert _counts(store, measured, "session_success", by_run=by_run) == (0, 0)
        assert _counts(
            store, measured, "session_success", by_run=by_run, count_planned_closes=True
        ) == (0, 2)
        assert _counts(store, measured, "no_internal_errors", by_run=by_run) == (2, 2)


async def test_an_internal_error_close_is_still_abnormal(
    closing_url: Callable[[int], object], store_url: str
) -> None:
    measured = await _round(await closing_url(1011))  # type: ignore[misc]
    assert {s.reason for s in measured.sessions} == {"closed_abnormally"}
    with ResultStore.open(store_url) as store:
        store.save_round(measured)
        assert _counts(store, measured, "session_success", by_run=False) == (0, 2)
        assert _counts(store, measured, "no_internal_errors", by_run=False) == (0, 2)
