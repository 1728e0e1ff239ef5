"""The target's resident memory, read from its ``/healthz`` or from the process itself.

A ``MemorySource`` answers "how many MB does the target hold now?", or None
when it cannot tell; ``sample_memory`` turns one into the baseline, during
and after samples of a round.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import psutil

from probes.records import MemorySample
from probes.target.http_get import HttpGetError, http_get

MB = 1024 * 1024  # MB here are MiB, as psutil and most process tools report them


class MemorySource(Protocol):
    """Where a round reads the target's memory from; ``kind`` is recorded with the samples."""

    kind: str

    async def rss_mb(self) -> float | None:
        """Resident set size in MB, or None when it cannot be read now."""
        ...


class HealthzMemory:
    """``rss_bytes`` from the target's ``GET /healthz`` (PROTOCOL.md); works for remote targets."""

    kind = "healthz"

    def __init__(self, url: str, *, timeout_s: float = 1.0) -> None:
        self.url = url
        self.timeout_s = timeout_s  # for the whole read: connect, headers and body

    async def rss_mb(self) -> float | None:
        # On the event loop with one deadline for the whole exchange: a server that
        # trickles its answer costs at most timeout_s and no thread (http_get).
        # No proxy from the environment: the target is asked directly, as the sessions do.
        try:
            response = await http_get(self.url, self.timeout_s)
            body = json.loads(response.body) if 200 <= response.status < 300 else None
        except (HttpGetError, ValueError):  # refused, slow, non-2xx, bad JSON
            return None
        rss = body.get("rss_bytes") if isinstance(body, dict) else None
        if isinstance(rss, bool) or not isinstance(rss, int | float) or rss < 0:
            return None
        return float(rss) / MB


class ProcessMemory:
    """The RSS of a local process by pid (a target this host started itself)."""

    kind = "psutil"

    def __init__(self, pid: int) -> None:
        self.pid = pid

    async def rss_mb(self) -> float | None:
        try:
            return float(psutil.Process(self.pid).memory_info().rss) / MB
        except (psutil.Error, OSError):
            return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def sample_memory(
    source: MemorySource,
    interval_s: float,
    stop: asyncio.Event,
    *,
    started: asyncio.Event | None = None,
    now: Callable[[], datetime] = _utcnow,
) -> tuple[MemorySample, ...]:
    """A baseline now (then ``started`` is set), a sample every ``interval_s`` until
    ``stop`` is set, then an "after" sample.

    All or nothing: when the baseline or the after sample cannot be read, the
    result is empty, so a round's baseline, after and growth never rest on
    the wrong sample.
    """
    baseline = await source.rss_mb()
    samples = [] if baseline is None else [MemorySample(now(), baseline)]
    if started is not None:
        started.set()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            value = await source.rss_mb()
            if value is not None:
                samples.append(MemorySample(now(), value))
    after = await source.rss_mb()
    if baseline is None or after is None:
        return ()
    return (*samples, MemorySample(now(), after))
