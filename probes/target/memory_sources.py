"""Memory sources beyond ``/healthz`` (PROFILES.md, last section), chosen by a probe's
``memory`` setting: ``healthz``, ``prometheus:URL[#metric]``, ``pid:N``,
``pidfile:PATH`` or ``off``.

Every source is a ``probes.target.memory.MemorySource``; ``source_for`` wraps
the one it builds in ``Bounded`` so that each read, the WHOLE operation (connect,
request, every byte of the answer), ends within a deadline: a target that
trickles its answer gives "no figure", never a stalled round. HTTP reads go
through ``probes.target.http_get`` (one deadline for the whole exchange).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from probes.config import ProbeSettings
from probes.target.http_get import HttpGetError, http_get
from probes.target.memory import MB, HealthzMemory, MemorySource, ProcessMemory

DEFAULT_METRIC = "process_resident_memory_bytes"  # every official client library exports it
READ_DEADLINE_S = 1.0


class Bounded:
    """A source whose every read ends within ``deadline_s`` (then: None)."""

    def __init__(self, source: MemorySource, deadline_s: float = READ_DEADLINE_S) -> None:
        self.source, self.deadline_s, self.kind = source, deadline_s, source.kind

    async def rss_mb(self) -> float | None:
        try:
            async with asyncio.timeout(self.deadline_s):
                return await self.source.rss_mb()
        except TimeoutError:
            return None


class PrometheusMemory:
    """A sample of a Prometheus text exposition (``process_resident_memory_bytes`` by default)."""

    kind = "prometheus"

    def __init__(self, url: str, metric: str = DEFAULT_METRIC) -> None:
        self.url, self.metric = url, metric

    async def rss_mb(self) -> float | None:
        try:
            response = await http_get(self.url, READ_DEADLINE_S)
        except HttpGetError:
            return None
        if response.status != 200:
            return None
        try:
            for family in text_string_to_metric_families(response.body.decode("utf-8", "replace")):
                for sample in family.samples:
                    if sample.name == self.metric and sample.value >= 0:
                        return float(sample.value) / MB
        except ValueError:  # not an exposition
            return None
        return None


class PidfileMemory:
    """The RSS of the process whose pid is in a file (read each time: it may restart)."""

    kind = "psutil"

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    async def rss_mb(self) -> float | None:
        try:
            pid = int(self.path.read_text(encoding="utf-8").split()[0])
            return float(psutil.Process(pid).memory_info().rss) / MB
        except (OSError, ValueError, IndexError, psutil.Error):
            return None


def source_for(probe: ProbeSettings) -> MemorySource | None:
    """The probe's ``memory`` setting as a bounded source (None: memory is not sampled)."""
    kind, _, rest = probe.memory.partition(":")
    source: MemorySource
    if probe.memory == "off":
        return None
    if kind == "prometheus":
        url, _, metric = rest.partition("#")
        source = PrometheusMemory(url, metric or DEFAULT_METRIC)
    elif kind == "pid":
        source = ProcessMemory(int(rest))
    elif kind == "pidfile":
        source = PidfileMemory(rest)
    else:
        healthz = probe.healthz_url
        if healthz is None:
            return None
        source = HealthzMemory(healthz)
    return Bounded(source)
