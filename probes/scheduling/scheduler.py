"""APScheduler wiring: each probe every ``every``, one round at a time, no silent gaps.

A slot that cannot run (the previous round overran, or the scheduler missed it)
is stored as a ``skipped`` round with the reason. A round that raises is stored
as an ``error`` round. A round that cannot be saved is kept and saved with the
next one, so a store outage loses nothing that the process still holds.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from probes.config import ProbeSettings, Settings
from probes.records import RoundResult, RoundStatus
from probes.results import ResultStore
from probes.target.memory import HealthzMemory, MemorySource
from probes.target.round import run_round

log = logging.getLogger("slawatch.schedule")
PRUNE_EVERY_S = 3600.0
# Extra time past a round's own timeout before the scheduler gives up on it.
ROUND_GRACE_S = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def memory_source(probe: ProbeSettings) -> MemorySource | None:
    """Where a probe reads its target's memory: ``/healthz`` unless turned off."""
    url = probe.healthz_url
    return HealthzMemory(url) if url else None


def round_without_sessions(
    probe: ProbeSettings,
    runner: str,
    *,
    status: RoundStatus,
    started: datetime,
    reason: str,
    now: datetime,
    run_id: str | None = None,
) -> RoundResult:
    """The record of a slot that did not run (``skipped``) or a round that could not
    produce sessions (``error``): stored so that no gap in the schedule is silent."""
    return RoundResult(
        run_id=run_id or uuid.uuid4().hex,
        probe=probe.name,
        target=probe.target,
        runner=runner,
        started_at=started,
        finished_at=now,
        status=status,
        reason=reason,
    )


class ProbeScheduler:
    """Runs every configured probe on its interval and stores each round."""

    def __init__(
        self,
        settings: Settings,
        store: ResultStore,
        secret: str,
        *,
        runner: str,
        now: Callable[[], datetime] = utc_now,
        on_round: Callable[[RoundResult], None] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._secret = secret
        self._runner = runner
        self._now = now
        self._on_round = on_round
        self._probes = {f"probe:{p.name}": p for p in settings.probes}
        self._unsaved: list[RoundResult] = []
        self._spilled = False
        self._flushing = asyncio.Lock()
        # The store's own thread: probes' worker threads can never hold up a save.
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="slawatch-store")
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Add one job per probe (first round at once) and start; needs a running loop."""
        self._scheduler.configure(event_loop=asyncio.get_running_loop())
        self._scheduler.add_listener(
            self.on_slot_not_run, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED
        )
        for job_id, probe in self._probes.items():
            self._scheduler.add_job(
                self.run_probe,
                IntervalTrigger(seconds=probe.every_s, timezone=UTC),
                args=(probe,),
                id=job_id,
                max_instances=1,
                coalesce=False,
                misfire_grace_time=max(1, int(probe.every_s / 2)),
                next_run_time=self._now(),
            )
        self._scheduler.add_job(
            self.prune,
            IntervalTrigger(seconds=PRUNE_EVERY_S, timezone=UTC),
            id="prune",
            next_run_time=self._now(),
            max_instances=1,
        )
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling; rounds in flight are cancelled, unsaved rounds get a last try."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()
        self._store_thread.shutdown(wait=True)

    async def run_probe(self, probe: ProbeSettings) -> RoundResult:
        """Run one round of ``probe`` now, store it, and return it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            result = await self._round(probe)
            await self._save(result)
            return result
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _round(self, probe: ProbeSettings) -> RoundResult:
        run_id = uuid.uuid4().hex
        started = self._now()
        try:
            return await asyncio.wait_for(
                run_round(
                    probe,
                    run_id=run_id,
                    runner=self._runner,
                    secret=self._secret,
                    memory=memory_source(probe),
                    now=self._now,
                ),
                probe.timeout_s + ROUND_GRACE_S,
            )
        except TimeoutError:
            reason = f"round did not finish within {probe.timeout_s + ROUND_GRACE_S:g}s"
        except Exception as exc:  # a bug of ours must not stop the schedule: record it
            log.exception("round %s of probe %s raised", run_id, probe.name)
            reason = f"probe raised {type(exc).__name__}: {exc}"
        return round_without_sessions(
            probe,
            self._runner,
            status="error",
            started=started,
            reason=reason,
            now=self._now(),
            run_id=run_id,
        )

    async def _save(self, result: RoundResult) -> None:
        self._unsaved.append(result)
        await self._flush()
        if self._on_round is not None:
            self._on_round(result)

    async def _in_store(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a store call on the store's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._store_thread, call, *args)

    async def _flush(self) -> None:
        async with self._flushing:  # one flush at a time: a round is never saved twice
            while self._unsaved:
                try:
                    await self._in_store(self._store.save_round, self._unsaved[0])
                except Exception as exc:
                    await self._spill(exc)
                    return
                self._unsaved.pop(0)
            if self._spilled:
                try:
                    await self._in_store(self._store.import_spilled)
                    self._spilled = False
                except Exception as exc:
                    log.error("spilled rounds not imported yet, will retry: %s", exc)

    async def _spill(self, error: Exception) -> None:
        """Move the unsaved rounds to the spill file (or keep them in memory if it fails)."""
        count = len(self._unsaved)
        try:
            path = await self._in_store(self._store.spill, list(self._unsaved))
        except OSError as exc:
            log.error(
                "cannot save %d round(s) (%s) nor spill them (%s); kept in memory, will retry",
                count,
                error,
                exc,
            )
            return
        self._unsaved.clear()
        self._spilled = True
        log.error(
            "cannot save %d round(s): %s; kept in %s until the store takes them", count, error, path
        )

    def on_slot_not_run(self, event: JobEvent) -> None:
        probe = self._probes.get(event.job_id)
        if probe is None:
            return
        slots: list[datetime] = list(getattr(event, "scheduled_run_times", None) or [])
        if not slots and getattr(event, "scheduled_run_time", None):
            slots = [event.scheduled_run_time]
        if event.code == EVENT_JOB_MAX_INSTANCES:
            reason = f"previous round still running at this slot (interval {probe.every_s:g}s)"
        else:
            reason = "slot missed by the scheduler (process paused or overloaded)"
        for slot in slots:
            record = round_without_sessions(
                probe, self._runner, status="skipped", started=slot, reason=reason, now=self._now()
            )
            self._spawn(self._save(record))

    async def prune(self) -> int:
        """Drop raw rows older than ``retention``, rollups older than ``rollup_retention``."""
        store, now = self._settings.store, self._now()
        raw = now - timedelta(days=store.retention_days)
        rollups = now - timedelta(days=store.rollup_retention_days)
        try:
            return int(await self._in_store(self._store.prune, raw, rollups))
        except Exception as exc:
            log.error("pruning failed, will retry: %s", exc)
            return 0

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
