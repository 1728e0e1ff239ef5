"""Network faults between the probe and its target, through the tests' fault proxy:
what is stored is exactly what the network did."""

from __future__ import annotations

import pytest

from probes.results import ResultStore
from tests.chaos.conftest import proxied
from tests.support.backend_process import Backend
from tests.support.fault_proxy import FaultProxy
from tests.support.probing import probe_round

pytestmark = pytest.mark.asyncio


async def _stored_round(url: str, target: str, **changes: object) -> tuple[object, object]:
    measured = await probe_round(target, healthz="off", **changes)
    with ResultStore.open(url) as store:
        store.save_round(measured)
        return measured, store.round(measured.run_id)


async def test_a_partition_is_stored_as_timeouts_of_every_session(
    backend: Backend, proxy: FaultProxy, sqlite_url: str
) -> None:
    proxy.mode = "blackhole"
    measured, stored = await _stored_round(
        sqlite_url, proxied(backend, proxy), users=3, timeout_s=6.0, session_timeout_s=3.0
    )
    assert stored == measured
    assert stored.status == "failed"
    assert [s.reason for s in stored.sessions] == ["timeout"] * 3
    assert all(s.close_code is None and not s.events for s in stored.sessions)
    assert proxy.connections >= 3  # every user really tried


async def test_a_reset_is_stored_as_connect_errors(
    backend: Backend, proxy: FaultProxy, sqlite_url: str
) -> None:
    proxy.mode = "rst"
    measured, stored = await _stored_round(sqlite_url, proxied(backend, proxy), users=2)
    assert stored == measured
    assert [s.reason for s in stored.sessions] == ["connect_error"] * 2
    # no session got a connection: an error round, its checks no data (issue 13)
    assert stored.status == "error" and stored.reason.startswith("target unreachable: ")
    assert stored.auth_check is None


async def test_a_stripped_authorization_header_refuses_header_users_only(
    backend: Backend, proxy: FaultProxy, sqlite_url: str
) -> None:
    proxy.strip_headers = ("authorization",)
    measured, stored = await _stored_round(
        sqlite_url, proxied(backend, proxy), users=4, auth="both"
    )
    assert stored == measured
    by_mode = {(s.auth_mode, s.reason, s.http_status) for s in stored.sessions}
    assert by_mode == {("header", "refused", 401), ("subprotocol", None, None)}


async def test_the_proxy_passes_a_healthy_round_unchanged(
    backend: Backend, proxy: FaultProxy, sqlite_url: str
) -> None:
    measured, stored = await _stored_round(sqlite_url, proxied(backend, proxy), users=2)
    assert stored == measured
    assert stored.status == "passed", [s.error for s in stored.sessions]
