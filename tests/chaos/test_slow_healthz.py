"""A target whose ``/healthz`` trickles one byte at a time (through the fault proxy):
the memory read gives up at its deadline, the sessions run and pass anyway, and no
thread is left waiting on the slow server."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.chaos.conftest import proxied
from tests.support.backend_process import Backend
from tests.support.fault_proxy import FaultProxy
from tests.support.probing import probe_round

pytestmark = pytest.mark.asyncio


async def test_a_trickling_healthz_costs_the_memory_figure_never_the_sessions(
    backend: Backend, proxy: FaultProxy
) -> None:
    proxy.slow_bytes_s = 0.3  # about 200 bytes of answer: a minute, were it waited for
    healthz = proxied(backend, proxy).replace("ws://", "http://").rsplit("/", 1)[0]
    threads_before = threading.active_count()
    measured = await asyncio.wait_for(
        probe_round(backend.url, users=2, healthz=f"{healthz}/healthz", timeout_s=20.0), 40
    )
    assert measured.status == "passed", [s.error for s in measured.sessions]
    assert all(s.outcome == "ok" for s in measured.sessions)
    assert measured.memory_samples == () and measured.memory_source == ""
    assert proxy.connections >= 1  # the slow server was really asked
    assert threading.active_count() <= threads_before
