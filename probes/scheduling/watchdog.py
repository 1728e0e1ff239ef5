"""The runner's heartbeat and watchdog: a runner that stops recording says so.

Every ``beat_every_s`` the runner writes its heartbeat row. The watchdog
compares the last progress (a round stored, or a slot found taken by the HA
partner) with how long a slot may take; past that the runner is ``stalled``:
logged at ERROR once per stall, counted in the row, and shown by the dashboard.
A runner whose beats stop (killed, frozen) is seen as down by every reader
(``RunnerBeat.down``). The same tick marks ``lost`` the slots that dead
processes of the same label started and never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psutil

from probes.config import Settings
from probes.records import RunnerBeat
from probes.results import ResultStore

log = logging.getLogger("slawatch.watchdog")
MIN_BEAT_S = 1.0
MAX_BEAT_S = 15.0


def beat_every(settings: Settings) -> float:
    """Half the shortest probe interval, from 1 s to 15 s: a beat per slot at least."""
    shortest = min(p.every_s for p in settings.probes)
    return min(MAX_BEAT_S, max(MIN_BEAT_S, shortest / 2))


def process_gone(host: str, pid: int) -> bool:
    """True when a heartbeat's process is known to be dead: it ran on this host and its
    pid no longer exists. A process on another host (or a pid reused) is not known dead."""
    return host == socket.gethostname() and pid != os.getpid() and not psutil.pid_exists(pid)


class Watchdog:
    """Writes the heartbeat and notices when this runner stops storing rounds."""

    def __init__(
        self,
        settings: Settings,
        store: ResultStore,
        *,
        runner: str,
        instance: str,
        ha: bool,
        now: Callable[[], datetime],
        executor: Executor,
        round_grace_s: float,
    ) -> None:
        self._store = store
        self._now = now
        self._executor = executor
        started = now()
        self.beat = RunnerBeat(
            instance=instance,
            runner=runner,
            host=socket.gethostname(),
            pid=os.getpid(),
            ha=ha,
            probes=tuple(sorted((p.name, p.every_s) for p in settings.probes)),
            beat_every_s=beat_every(settings),
            started_at=started,
            beat_at=started,
        )
        slowest = max(p.every_s + p.timeout_s for p in settings.probes)
        self.stall_after = timedelta(seconds=slowest + round_grace_s)
        self._lost_after = timedelta(
            seconds=max(p.timeout_s for p in settings.probes) + round_grace_s
        )
        self._progress_at = started

    def progressed(self, *, stored: bool) -> None:
        """A round was stored (``stored``) or a slot was found taken by the HA partner."""
        now = self._now()
        self._progress_at = now
        if stored:
            self.beat = replace(self.beat, last_stored_at=now)

    async def tick(self) -> None:
        """Judge this runner, write the heartbeat, mark slots dead partners lost."""
        with contextlib.suppress(asyncio.CancelledError):  # cancelled by the runner's stop
            await self._tick()

    async def _tick(self) -> None:
        now = self._now()
        idle = now - self._progress_at
        beat = self.beat
        if idle > self.stall_after and beat.state == "running":
            detail = f"no round stored for {idle.total_seconds():.0f}s"
            log.error("runner %r has stalled: %s", beat.runner, detail)
            beat = replace(beat, state="stalled", stalls=beat.stalls + 1, last_stall_at=now,
                           detail=detail)  # fmt: skip
        elif idle <= self.stall_after and beat.state == "stalled":
            log.warning("runner %r stores rounds again", beat.runner)
            beat = replace(beat, state="running", detail="")
        self.beat = replace(beat, beat_at=now)
        try:
            await self._call(self._store.write_beat, self.beat)
            await self._mark_lost(now)
        except Exception as exc:  # the store is down: the missing beats say so
            log.warning("cannot write the heartbeat of runner %r: %s", beat.runner, exc)

    async def stop(self) -> None:
        """Write the last beat: stopped on purpose."""
        self.beat = replace(self.beat, state="stopped", beat_at=self._now(), detail="stopped")
        try:
            await self._call(self._store.write_beat, self.beat)
        except Exception as exc:
            log.warning("cannot write the last heartbeat: %s", exc)

    async def _mark_lost(self, now: datetime) -> None:
        beats = await self._call(self._store.runner_beats)
        dead = [
            b.instance
            for b in beats
            if b.runner == self.beat.runner and b.instance != self.beat.instance and b.down(now)
        ]
        lost = await self._call(
            self._store.mark_lost_slots, self.beat.runner, dead, now - self._lost_after
        )
        if lost:
            log.warning("%d slot(s) of runner %r lost with a dead process", lost, self.beat.runner)

    async def _call(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)
