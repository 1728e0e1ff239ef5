"""APScheduler wiring: each probe every ``every``, one round at a time, no silent gaps.

Slots are aligned to the epoch (``probes.slots``), so every runner names the
same slots. Before a round runs, its slot is recorded in the store; that
record is also the lease that lets two ``--ha`` runners of one label share
the schedule (the one whose record lands runs the slot). A slot that cannot
run (the previous round overran, or the scheduler missed it) is stored as a
``skipped`` round with the reason. A round that raises is stored as an
``error`` round. A round that cannot be saved is kept and saved with the
next one, so a store outage loses nothing that the process still holds.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from probes.config import ProbeSettings, Settings
from probes.records import RoundResult, RoundStatus
from probes.results import ResultStore
from probes.scheduling.watchdog import Watchdog, process_gone
from probes.slots import EPOCH, slot_of
from probes.target.memory import MemorySource
from probes.target.memory_sources import source_for
from probes.target.round import run_round

log = logging.getLogger("slawatch.schedule")
PRUNE_EVERY_S = 3600.0
# SQLite's WAL is checkpointed and truncated this often, so it stays small on disk
# even when its automatic checkpoints were held back by a long reader.
CHECKPOINT_EVERY_S = 300.0
# Extra time past a round's own timeout before the scheduler gives up on it.
ROUND_GRACE_S = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def memory_source(probe: ProbeSettings) -> MemorySource | None:
    """Where a probe reads its target's memory: its ``memory`` setting (``/healthz`` by
    default), each read bounded by a deadline (``probes.target.memory_sources``)."""
    return source_for(probe)


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


@dataclass(frozen=True, slots=True)
class Pending:
    """A round to store, with the slot it fills (None: the slot is already recorded)."""

    result: RoundResult
    slot: datetime | None = None
    state: str = "started"


class ProbeScheduler:
    """Runs every configured probe on its interval and stores each round."""

    def __init__(
        self,
        settings: Settings,
        store: ResultStore,
        secret: str,
        *,
        runner: str,
        ha: bool = False,
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
        self._ha = ha
        self.instance = uuid.uuid4().hex
        self._unsaved: list[Pending] = []
        # One flush at a time: rounds finishing together must not save the same
        # pending round twice (the second try fails on the run id: false errors).
        self._flushing = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._spilled = False
        self._late_slots: list[Pending] = []  # slot records of spilled rounds
        # Run ids the store's thread has saved. A flush cancelled by stop() leaves its
        # save running there; the last flush must see that it landed, not save it twice.
        self._landed: set[str] = set()
        # The store's own thread: probes' worker threads can never hold up a save;
        # the heartbeat has another, so a slow save cannot make the runner look down.
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="slawatch-store")
        self._beat_thread = ThreadPoolExecutor(1, thread_name_prefix="slawatch-beat")
        self.watchdog = Watchdog(
            settings,
            store,
            runner=runner,
            instance=self.instance,
            ha=ha,
            now=now,
            executor=self._beat_thread,
            round_grace_s=ROUND_GRACE_S,
        )

    def start(self) -> None:
        """Add one job per probe (first round at once) and start; needs a running loop."""
        self._scheduler.configure(event_loop=asyncio.get_running_loop())
        self._scheduler.add_listener(
            self.on_slot_not_run, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED
        )
        now = self._now()
        for job_id, probe in self._probes.items():
            # The current slot at once if a round still fits in it, else the next one.
            fits = now - slot_of(now, probe.every_s) + timedelta(seconds=probe.timeout_s)
            self._scheduler.add_job(
                self._scheduled_round,
                IntervalTrigger(seconds=probe.every_s, start_date=EPOCH, timezone=UTC),
                args=(probe,),
                id=job_id,
                max_instances=1,
                coalesce=False,
                misfire_grace_time=max(1, int(probe.every_s / 2)),
                **({"next_run_time": now} if fits <= timedelta(seconds=probe.every_s) else {}),
            )
        self._scheduler.add_job(
            self.watchdog.tick,
            IntervalTrigger(seconds=self.watchdog.beat.beat_every_s, timezone=UTC),
            id="heartbeat",
            next_run_time=now,
            max_instances=1,
        )
        self._scheduler.add_job(
            self.prune,
            IntervalTrigger(seconds=PRUNE_EVERY_S, timezone=UTC),
            id="prune",
            next_run_time=self._now(),
            max_instances=1,
        )
        self._scheduler.add_job(
            self.checkpoint,
            IntervalTrigger(seconds=CHECKPOINT_EVERY_S, timezone=UTC),
            id="checkpoint",
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
        await self.watchdog.stop()
        self._beat_thread.shutdown(wait=True)

    async def _scheduled_round(self, probe: ProbeSettings) -> None:
        """A scheduled slot: ``run_probe``; a round cancelled by ``stop`` ends quietly.

        Stopping cancels the rounds in flight (``stop``); letting the cancellation
        reach APScheduler would log it as a job failure with a traceback on every
        Ctrl-C of ``slawatch up`` or ``run``.
        """
        try:
            await self.run_probe(probe)
        except asyncio.CancelledError:
            log.info("round of probe %s cancelled: stopping", probe.name)

    async def run_probe(self, probe: ProbeSettings) -> RoundResult | None:
        """Take the current slot of ``probe``, run its round, store it, and return it.

        None when the slot was already taken by the HA partner (``--ha``): nothing runs.
        Without ``--ha`` the round runs anyway (a measurement is never dropped).
        """
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            run_id = uuid.uuid4().hex
            slot = slot_of(self._now(), probe.every_s)
            recorded = await self._take(probe, slot, run_id, "started")
            if recorded is False and self._ha:
                return None  # the HA partner runs this slot
            result = await self._round(probe, run_id)
            await self._save(Pending(result, slot if recorded is None else None))
            return result
        except asyncio.CancelledError:  # stop(): a job that ends here is not an error
            log.info("round of probe %s cancelled: the runner is stopping", probe.name)
            return None
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _take(
        self, probe: ProbeSettings, slot: datetime, run_id: str, state: str
    ) -> bool | None:
        """Record the slot: True taken, False taken by another process, None store down."""
        try:
            taken = await self._in_store(
                lambda: self._store.take_slot(
                    probe=probe.name, runner=self._runner, slot=slot,
                    instance=self.instance, run_id=run_id, state=state,
                    holder_dead=process_gone,
                )
            )  # fmt: skip
        except Exception as exc:  # run anyway: the slot is recorded with the round
            log.warning("cannot record slot %s of probe %s yet: %s", slot, probe.name, exc)
            return None
        if not taken and self._ha:
            self.watchdog.progressed(stored=False)
        elif not taken:  # measured anyway; the slot keeps its first record (counted once)
            log.warning(
                "slot %s of probe %s is already recorded for runner label %r by another "
                "process: one still running or on another host (two runners of one label "
                "need --ha), or a restarted one that stored this slot's round; this round "
                "is stored without a slot", slot.isoformat(), probe.name, self._runner,
            )  # fmt: skip
        return bool(taken)

    async def _in_store(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a store call on the store's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._store_thread, call, *args)

    async def _round(self, probe: ProbeSettings, run_id: str) -> RoundResult:
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

    async def _save(self, pending: Pending) -> None:
        self._unsaved.append(pending)
        await self._flush()
        if self._on_round is not None:
            self._on_round(pending.result)

    async def _flush(self) -> None:
        """Save the pending rounds in order; on failure spill them to the spill file."""
        async with self._flushing:  # one flush at a time: a round is never saved twice
            while self._unsaved:
                pending = self._unsaved[0]
                try:
                    await self._in_store(self._store_pending, pending)
                except Exception as exc:
                    await self._spill(exc)
                    return
                self._unsaved.pop(0)
                self._landed.discard(pending.result.run_id)
                self._stored(pending.result)
            if self._spilled:
                try:
                    await self._in_store(self._store.import_spilled)
                    self._spilled = False
                    for late in self._late_slots:
                        await self._in_store(self._store_pending, late, False)
                    self._late_slots.clear()
                except Exception as exc:
                    log.error("spilled rounds not imported yet, will retry: %s", exc)
                else:
                    self.watchdog.progressed(stored=True)

    def _stored(self, r: RoundResult) -> None:
        """The acknowledgement: this round is in the store."""
        self.watchdog.progressed(stored=True)
        log.info("stored round %s of probe %s (%s)", r.run_id, r.probe, r.status)

    async def _spill(self, error: Exception) -> None:
        """Move the unsaved rounds to the spill file (or keep them in memory if it fails)."""
        count = len(self._unsaved)
        rounds = [p.result for p in self._unsaved]
        try:
            path = await self._in_store(self._store.spill, rounds)
        except OSError as exc:
            log.error(
                "cannot save %d round(s) (%s) nor spill them (%s); kept in memory, will retry",
                count,
                error,
                exc,
            )
            return
        self._late_slots += [p for p in self._unsaved if p.slot is not None]
        self._unsaved.clear()
        self._spilled = True
        log.error(
            "cannot save %d round(s): %s; kept in %s until the store takes them", count, error, path
        )

    def _store_pending(self, pending: Pending, with_round: bool = True) -> None:
        """The slot record the store could not take earlier (insert-or-ignore), then the round.

        Runs on the store's one thread, so calls are in order: a round an earlier,
        cancelled flush saved is in ``_landed`` by the time this runs again for it.
        """
        r = pending.result
        if r.run_id in self._landed:
            return
        if pending.slot is not None:
            self._store.take_slot(
                probe=r.probe, runner=r.runner, slot=pending.slot,
                instance=self.instance, run_id=r.run_id, state=pending.state, wait=True,
            )  # fmt: skip
        if with_round:
            self._store.save_round(r)
            self._landed.add(r.run_id)

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
            self._spawn(self._skip(probe, record))

    async def _skip(self, probe: ProbeSettings, record: RoundResult) -> None:
        """Store a skipped slot, unless another process of the label has recorded it."""
        slot = slot_of(record.started_at, probe.every_s)
        recorded = await self._take(probe, slot, record.run_id, "skipped")
        if recorded is not False:
            await self._save(Pending(record, slot if recorded is None else None, "skipped"))

    async def prune(self) -> int:
        """Drop raw rows older than ``retention``, rollups older than ``rollup_retention``.

        First the SLI cache of the configured objectives is filled wherever it
        lacks minutes, here in the runner, so no dashboard read has to.
        """
        store, now = self._settings.store, self._now()
        raw = now - timedelta(days=store.retention_days)
        rollups = now - timedelta(days=store.rollup_retention_days)
        try:
            await self._in_store(self._store.track_slis, self._settings.slos)
            pruned = int(await self._in_store(self._store.prune, raw, rollups))
            # Slot records and heartbeats are coverage's evidence: kept as long as rollups.
            return pruned + int(await self._in_store(self._store.prune_schedule, rollups))
        except Exception as exc:
            log.error("pruning failed, will retry: %s", exc)
            return 0

    async def checkpoint(self) -> None:
        """Checkpoint and truncate SQLite's WAL (nothing on PostgreSQL); a busy one waits."""
        try:
            result = await self._in_store(self._store.checkpoint)
        except Exception as exc:
            log.error("WAL checkpoint failed, will retry: %s", exc)
            return
        if result is not None and result[0]:
            log.info("WAL checkpoint held back by a reader (%d of %d pages)", result[2], result[1])

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
