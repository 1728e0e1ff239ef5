"""Memory sources beyond /healthz: a real Prometheus client's exposition, a pid file,
and a deadline on the whole read (a server that trickles its answer gives no figure)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.process_collector import ProcessCollector

from probes.config import ProbeSettings
from probes.target.memory_sources import (
    Bounded,
    PidfileMemory,
    PrometheusMemory,
    source_for,
)

MB = 1024 * 1024


@pytest.fixture
def exposition() -> Iterator[str]:
    """prometheus_client's own HTTP exposition of this process (and one custom gauge)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    Gauge("agent_heap_bytes", "heap", registry=registry).set(64 * MB)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.asyncio
async def test_prometheus_reads_process_resident_memory_bytes(exposition: str) -> None:
    rss = await PrometheusMemory(exposition).rss_mb()
    own = psutil.Process(os.getpid()).memory_info().rss / MB
    assert rss is not None and 0.5 * own < rss < 2 * own
    assert await PrometheusMemory(exposition, "agent_heap_bytes").rss_mb() == 64.0
    assert await PrometheusMemory(exposition, "no_such_metric").rss_mb() is None


def test_a_probes_memory_setting_picks_the_source(tmp_path: Path) -> None:
    def kind(memory: str) -> str | None:
        source = source_for(ProbeSettings(memory=memory))
        return None if source is None else source.kind

    assert kind("healthz") == "healthz"
    assert kind("prometheus:http://127.0.0.1:1/metrics#rss") == "prometheus"
    assert kind("pid:1") == kind(f"pidfile:{tmp_path / 'x.pid'}") == "psutil"
    assert kind("off") is None


@pytest.mark.asyncio
async def test_a_pidfile_is_read_at_each_sample(tmp_path: Path) -> None:
    path = tmp_path / "target.pid"
    source = PidfileMemory(str(path))
    assert await source.rss_mb() is None  # no file yet
    path.write_text(f"{os.getpid()}\n")
    assert (await source.rss_mb() or 0) > 0


@pytest_asyncio.fixture
async def trickling() -> AsyncIterator[str]:
    """An HTTP server that answers one byte every 0.2 s, forever."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"#" * 100000:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/metrics"
    server.close()


@pytest.mark.asyncio
async def test_a_trickling_exposition_gives_no_figure_within_the_deadline(trickling: str) -> None:
    async with asyncio.timeout(10):  # the server would take hours: only a deadline ends it
        assert await Bounded(PrometheusMemory(trickling), deadline_s=0.5).rss_mb() is None
