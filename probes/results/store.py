"""``ResultStore``: the one public class of the results store; each method delegates."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from probes.alerting.incidents import Incident, Subject, Tracked, Transition
from probes.config import SloSettings
from probes.errors import RoundNotSaved, StoreError
from probes.records import (
    Annotation,
    Filters,
    RoundResult,
    RunnerBeat,
    RunnerBuckets,
    SliBucket,
    pooled_buckets,
)
from probes.results import (
    aggregates,
    damage,
    engine,
    exposition,
    incidents,
    opening,
    reads,
    retention,
    retry,
    schedule,
    sli,
    sli_tracking,
    slo_segments,
    spill,
    writes,
)
from probes.results.labels import labels as stored_labels
from probes.results.schema import NO_FILTERS

T = TypeVar("T")


class ResultStore:
    """Stores probe records and answers the queries of the SLO maths and the dashboard.

    ``ResultStore(url)`` connects; ``ResultStore.open(url)`` is the writers' start
    (creates the SQLite file's folder, moves a damaged file aside, migrates the
    schema, imports the spill file); ``ResultStore.open_read_only(url)`` the
    readers' (never creates, migrates or writes; ``probes.results.opening``).
    """

    def __init__(
        self,
        url: str | URL,
        *,
        busy_timeout_ms: int = 5000,
        read_only: bool = False,
        lock_wait_s: float = 60.0,
        spill_file: str = "",
        max_pages: int | None = None,
    ) -> None:
        parsed = opening.parse(url)
        try:
            self._engine, self._writer = engine.connect(
                parsed, busy_timeout_ms, read_only=read_only, max_pages=max_pages
            )
        except (ImportError, SQLAlchemyError) as exc:
            raise opening.connect_error(exc, parsed) from None
        self.url = self._engine.url
        self.read_only = read_only
        self.lock_wait_s = lock_wait_s
        self.spill_path = spill.spill_path(self.url, spill_file)

    @classmethod
    def open(cls, url: str | URL, *, verify: bool = False, **options: Any) -> Self:
        """The writers' start: folder, damage check (``verify``: a full quick_check),
        migration to the newest schema (waiting out a lock), then the spill file."""
        parsed = opening.parse(url)
        opening.make_folder(parsed)
        path = opening.sqlite_path(parsed)
        if path is not None:
            problem = damage.header_problem(path) or (
                damage.quick_check(path) if verify and path.exists() else None
            )
            if problem:
                damage.move_aside(path, problem)
        store = cls(parsed, **options)
        try:
            opening.check_connects(store._engine, store.url)
            store._retry(store.upgrade, "creating or migrating the schema")
            store.import_spilled()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open_read_only(cls, url: str | URL, **options: Any) -> Self:
        """The readers' start: the store must exist at the newest schema; nothing is written."""
        parsed = opening.parse(url)
        opening.must_exist(parsed)
        store = cls(parsed, read_only=True, **options)
        try:
            opening.check_connects(store._engine, store.url)
            version = store.schema_version()
            known = version is None or engine.known_revision(version)
            opening.check_schema(version, engine.head_revision(), store.url, known)
        except BaseException:
            store.close()
            raise
        return store

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations to ``revision`` (head), in one write transaction."""
        self._writable()
        engine.upgrade(self._writer, revision)

    def schema_version(self) -> str | None:
        """The Alembic revision the database is at (None before any migration)."""
        return engine.schema_version(self._engine)

    def checkpoint(self) -> tuple[int, int, int] | None:
        """Checkpoint and truncate SQLite's WAL (None on PostgreSQL); see ``engine``."""
        self._writable()
        return engine.checkpoint(self._writer)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"results store {opening.shown(self.url)} was opened read-only")

    def _retry(self, action: Callable[[], T], what: str) -> T:
        return retry.with_retry(action, what=what, url=self.url, wait_s=self.lock_wait_s)

    # --- writes -------------------------------------------------------------------

    def save_round(self, r: RoundResult) -> None:
        """Store a round with its sessions, events, samples and timings in one transaction.

        The minute rollup is updated, and the SLI cache of every minute the round
        falls in deleted, in the same transaction. Raises
        ``RoundNotSaved`` (and writes nothing) on any failure, e.g. a duplicate run id.
        """
        self._writable()
        self._retry(lambda: writes.save_round(self._writer, r), f"saving round {r.run_id}")

    def has_round(self, run_id: str) -> bool:
        """Whether a round with this run id is stored."""
        return reads.has_round(self._engine, run_id)

    def save_new_round(self, r: RoundResult) -> bool:
        """``save_round`` unless that run id is stored already; True when it saved."""
        if self.has_round(r.run_id):
            return False
        try:
            self.save_round(r)
        except RoundNotSaved:
            if self.has_round(r.run_id):  # another importer was first
                return False
            raise
        return True

    def spill(self, rounds: Sequence[RoundResult]) -> Path:
        """Keep ``rounds`` in the spill file for the next start to import; returns its path."""
        spill.append(self.spill_path, rounds)
        return self.spill_path

    def import_spilled(self) -> int:
        """Store the rounds of the spill file (skipping those stored already)."""
        return spill.import_into(self.spill_path, self.save_new_round)

    def save_rounds(self, batch: Sequence[RoundResult]) -> None:
        """``save_round`` of many rounds in one transaction (loading a history fast)."""
        self._writable()
        writes.save_rounds(self._writer, batch)

    def add_annotation(self, a: Annotation) -> int:
        """Store a deploy/incident/maintenance note; returns its id."""
        return writes.add_annotation(self._writer, a)

    def prune_older_than(self, cutoff: datetime, *, batch_size: int = 500) -> int:
        """Delete raw sessions (with events), memory samples and DB timings before ``cutoff``.

        Works in short batches so probes can write in between. Round rows, the
        minute rollup and the per-minute SLI cache are kept (cached minutes keep
        their counts; minutes not cached before the prune are counted from what
        remains). Returns the number of rows deleted.
        """
        return writes.prune_older_than(self._writer, cutoff, batch_size)

    def track_slis(self, slos: Sequence[SloSettings]) -> None:
        """Keep the SLI cache of these objectives filled by the writer (``sli_tracking``).

        Fills the minutes they lack now (a day per short write transaction);
        from then on every ``save_round`` counts its minutes for them, so no
        reader ever waits for a fill. Objectives without a cached SLI are ignored.
        """
        self._writable()
        sli_tracking.track(self._writer, sli.tracked(slos))

    # --- runners and the schedule's own records ---------------------------------------

    def write_beat(self, beat: RunnerBeat) -> None:
        """Insert or update a runner process's heartbeat row."""
        schedule.write_beat(self._writer, beat)

    def runner_beats(self) -> list[RunnerBeat]:
        """Every stored heartbeat (one per runner process), by label then start."""
        return schedule.runner_beats(self._engine)

    def take_slot(
        self,
        *,
        probe: str,
        runner: str,
        slot: datetime,
        instance: str,
        run_id: str,
        state: str = "started",
        reason: str = "",
        wait: bool = False,
        holder_dead: Callable[[str, int], bool] | None = None,
    ) -> bool:
        """Record (and lease) a slot of (probe, runner label): ``started`` or ``skipped``.

        Returns False, writing nothing, when the slot is already taken (by the
        other runner of an HA pair): the caller must then not run it; a slot a dead
        process started is taken over when ``holder_dead(host, pid)`` says so
        (`schedule.take_slot`). With ``wait``
        a locked store is waited out as ``save_round`` waits (``[store] lock_wait``);
        without, the lock's error is raised at once (a round about to start).
        """

        def take() -> bool:
            return schedule.take_slot(
                self._writer,
                probe=probe,
                runner=runner,
                slot=slot,
                instance=instance,
                run_id=run_id,
                state=state,
                reason=reason,
                holder_dead=holder_dead,
            )

        return self._retry(take, f"recording slot {slot:%H:%M:%S} of {probe}") if wait else take()

    def mark_lost_slots(self, runner: str, dead_instances: list[str], before: datetime) -> int:
        """Mark ``lost`` the slots dead instances started before ``before`` and never stored."""
        return schedule.mark_lost(self._writer, runner, dead_instances, before)

    def slots_with_data(self, probe: str, runner: str, since: datetime, until: datetime) -> int:
        """Slots in ``[since, until)`` of (probe, runner label) filled by a round with data."""
        return schedule.slots_with_data(self._engine, probe, runner, since, until)

    def slot_records(self, runner: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The slot rows of a runner label in ``[since, until)``, oldest first.

        Keys: probe, runner, slot, minute, state, run_id, instance, reason.
        """
        return schedule.slot_rows(self._engine, runner, since, until)

    def prune_schedule(self, cutoff: datetime) -> int:
        """Drop slot records before ``cutoff`` and heartbeats that last beat before it."""
        return schedule.prune_schedule(self._writer, cutoff)

    def prune(
        self, raw_before: datetime, rollups_before: datetime, *, batch_size: int = 500
    ) -> int:
        """Apply both retentions, then give the freed space back; returns rows deleted.

        Raw rows before ``raw_before`` (``prune_older_than``); rounds, minute
        rollups and SLI cache rows before ``rollups_before``, which must not be
        later (``ValueError``). SQLite: incremental vacuum; PostgreSQL:
        ``VACUUM (ANALYZE)`` of the pruned tables.
        """
        if rollups_before > raw_before:
            raise ValueError("rollups_before is later than raw_before")
        deleted = writes.prune_older_than(self._writer, raw_before, batch_size)
        deleted += retention.prune_rollups_older_than(self._writer, rollups_before, batch_size)
        retention.reclaim_space(self._writer)
        return deleted

    def stored_bytes(self) -> int:
        """Bytes of all tables and indexes (SQLite: used pages; PostgreSQL: this schema)."""
        return retention.stored_bytes(self._engine)

    # --- records back ---------------------------------------------------------------

    def round(self, run_id: str) -> RoundResult | None:
        """The stored round, rebuilt whole (equal to what was saved, unless pruned)."""
        return reads.round_(self._engine, run_id)

    def rounds_between(
        self,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Round summary rows (no sessions), newest first, times as ISO strings."""
        return reads.rounds_between(self._engine, since, until, filters, limit)

    def round_figures(
        self,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        status: str | None = None,
    ) -> list[tuple[str, str, float | None]]:
        """(run_id, probe, memory growth MB) of the rounds (of ``status``), oldest first."""
        return reads.round_figures(self._engine, since, until, filters, status)

    def iter_sessions(
        self,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Export rows, oldest first (then by user), read in chunks; see ``sessions_between``.

        The iterator holds one connection (and, on SQLite, one read snapshot)
        until it is exhausted or closed.
        """
        return reads.iter_sessions(self._engine, since, until, filters, limit)

    def sessions_between(
        self,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Flat session rows for the export, sorted by started_at then user_id.

        Keys: run_id, probe, target, runner, user_id, auth_mode, started_at (ISO 8601,
        ``Z``), connect_ms, first_event_ms, completion_ms, total_ms, close_code, close_reason,
        http_status, events (types in arrival order), missing_events, order_ok, foreign_events,
        outcome, reason, error.
        """
        return list(self.iter_sessions(since, until, filters, limit))

    def failing_sessions(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Failed sessions, newest first, for the on-call view.

        Keys: run_id, probe, target, runner, user_id, started_at, close_code,
        close_reason, http_status, missing_events (list), auth_mode, reason, error.
        """
        return reads.failing_sessions(self._engine, since, until, filters, limit)

    def timing_rows(
        self,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        over_ms: float | None = None,
    ) -> list[dict[str, Any]]:
        """DB timings of rounds started in the window, oldest first: every one, or with
        ``over_ms`` only those that failed, have no figure or are over ``over_ms`` (the
        lowest DB threshold: no other can breach an objective).

        Keys: run_id, probe, operation, ok, server_ms, client_ms (for
        ``probes.judging.breaches``: which round breached a DB objective).
        """
        return reads.timing_rows(self._engine, since, until, filters, over_ms)

    def slow_sessions(
        self,
        since: datetime,
        until: datetime,
        filters: Filters,
        over_ms: Mapping[str, float],
    ) -> list[dict[str, Any]]:
        """Connected sessions that passed with a first event or completion measured over
        its floor in ``over_ms`` (field -> ms), newest first. Keys: run_id, probe, target,
        runner, user_id, started_at, http_status, connect_ms, first_event_ms,
        completion_ms, outcome, close_code, auth_mode."""
        return reads.slow_sessions(self._engine, since, until, filters, over_ms)

    def round_counts(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS
    ) -> dict[str, int]:
        """Rounds started in the window, by status (every status present, zero if none)."""
        return reads.round_counts(self._engine, since, until, filters)

    def first_round_at(self, filters: Filters = NO_FILTERS) -> datetime | None:
        """When the first matching round started (coverage starts there)."""
        return reads.first_round_at(self._engine, filters)

    def annotations_between(
        self, since: datetime, until: datetime, target: str | None = None
    ) -> list[Annotation]:
        """Annotations overlapping ``[since, until)``, open-ended ones included.

        With ``target``, those for that target and those for every target (NULL).
        """
        return reads.annotations_between(self._engine, since, until, target)

    def labels(self) -> dict[str, list[str]]:
        """The distinct probes, targets and runners of stored rounds, sorted (filter choices)."""
        return stored_labels(self._engine)

    # --- SLO maths --------------------------------------------------------------------

    def sli_counts(
        self,
        slo: SloSettings,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        bucket_s: int = 60,
    ) -> list[SliBucket]:
        """Good and valid events of ``slo.sli`` per epoch-aligned bucket, counted in SQL.

        Buckets without valid events are left out. ``slo.probe`` and ``filters``
        both apply. Sessions of skipped or error rounds are not counted. What is
        good and valid for each SLI: the table in ``probes.results.sli``. The
        threshold SLIs read whole minutes from the per-minute SLI cache, and fill
        it (one short write) with the minutes it lacks: ``probes.results.sli_cache``.
        """
        return pooled_buckets(self.sli_counts_by_runner(slo, since, until, filters, bucket_s))

    def sli_counts_by_runner(
        self,
        slo: SloSettings,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        bucket_s: int = 60,
    ) -> RunnerBuckets:
        """``sli_counts`` per runner label (location), from the same one grouped read."""
        writer = None if self.read_only else self._writer
        return sli.sli_counts(self._engine, writer, slo, since, until, filters, bucket_s)

    # --- dashboard aggregates ---------------------------------------------------------

    def latency_percentiles(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, bucket_s: int = 60
    ) -> list[dict[str, Any]]:
        """p50/p95/p99 of first_event_ms and completion_ms per bucket (nearest rank).

        Whole-minute buckets come from the histograms (``probes.results.histograms``):
        within 1 % of the exact value, edge minutes counted whole, and available
        until ``rollup_retention``. A ``run_ids`` filter or other widths rank raw rows.

        Keys: start, first_event_count, first_event_p50/_p95/_p99, completion_count,
        completion_p50/_p95/_p99.
        """
        return aggregates.latency_percentiles(self._engine, since, until, filters, bucket_s)

    def db_timings_between(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, bucket_s: int = 60
    ) -> list[dict[str, Any]]:
        """Per bucket and operation: count, failed, p50/p95 of COALESCE(server_ms, client_ms).

        From the histograms, as ``latency_percentiles``.

        Keys: start, operation, ms_count, ms_p50, ms_p95, failed.
        """
        return aggregates.db_timings_between(self._engine, since, until, filters, bucket_s)

    def close_codes(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, bucket_s: int = 60
    ) -> list[dict[str, Any]]:
        """Sessions per bucket per close code (None: refused or never connected).

        Keys: start, close_code, count.
        """
        return aggregates.close_codes(self._engine, since, until, filters, bucket_s)

    def memory_by_round(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS
    ) -> list[dict[str, Any]]:
        """Memory figures of each round that sampled memory, oldest first.

        Keys: run_id, probe, target, runner, started_at, memory_baseline_mb,
        memory_peak_mb, memory_after_mb, memory_growth_mb, memory_source.
        """
        return aggregates.memory_by_round(self._engine, since, until, filters)

    def memory_buckets(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, bucket_s: int = 3600
    ) -> list[dict[str, Any]]:
        """Per bucket of round starts: rounds with memory, their worst growth and peak.

        Keys: start, rounds, growth_max_mb, peak_max_mb. For ranges with too many
        rounds to draw one point each (``memory_by_round``).
        """
        return aggregates.memory_buckets(self._engine, since, until, filters, bucket_s)

    # --- the exporter (/metrics) --------------------------------------------------------

    def exposition_series(self) -> list[exposition.SeriesRow]:
        """The all-time counters, histogram buckets and newest-round gauges per series."""
        return exposition.series(self._engine)

    def slo_segments(
        self,
        slos: Sequence[SloSettings],
        bounds: list[int],
        maintenance: list[tuple[int, int, str | None]],
        until: datetime,
    ) -> dict[str, dict[tuple[str, str, str], list[tuple[int, int, int, int]]]]:
        """Each objective's good/valid events (by name) per (probe, target, runner) and segment.

        Segment i covers the epoch minutes ``[bounds[i-1], bounds[i])`` (the first
        from the start of time, the last up to ``until``); each is (good, valid,
        good and valid outside the ``maintenance`` minute ranges). Read from the
        per-minute rollups: ``probes.results.slo_segments``.
        """
        return slo_segments.slo_segments(
            self._engine, self._writer, slos, bounds, maintenance, until
        )

    def ping(self) -> None:
        """A trivial read; raises when the database cannot answer (``slawatch_store_up``)."""
        exposition.ping(self._engine)

    # --- incidents and the notification outbox ------------------------------------------

    def incident_states(self, subjects: Sequence[Subject]) -> dict[str, Tracked]:
        """The stored streaks and open incident of each subject (by key)."""
        return incidents.tracked(self._engine, subjects)

    def save_incidents(
        self,
        states: Sequence[Tracked],
        transitions: Sequence[Transition],
        planned: Sequence[incidents.Planned],
    ) -> None:
        """New subject states, opened/resolved incidents and their outbox rows, atomically."""
        incidents.save(self._writer, states, transitions, planned)

    def plan_notifications(self, planned: Sequence[incidents.Planned]) -> None:
        """Add outbox rows unless their (incident, target, event) is already there."""
        incidents.plan(self._writer, planned)

    def due_notifications(self, now: datetime, limit: int = 50) -> list[incidents.Delivery]:
        """Pending outbox rows due at ``now``, oldest first."""
        return incidents.due(self._engine, now, limit)

    def notification_events(
        self, incident_ids: Sequence[str]
    ) -> dict[tuple[str, str], dict[str, str]]:
        """(incident, target) -> {event: status} of the outbox."""
        return incidents.events_of(self._engine, incident_ids)

    def claim_notification(self, delivery: incidents.Delivery, until: datetime) -> bool:
        """Take a due outbox row for sending (False: another sender has it)."""
        return incidents.claim(self._writer, delivery, until)

    def finish_notification(
        self,
        delivery_id: int,
        *,
        status: str,
        at: datetime | None = None,
        error: str = "",
        retry_at: datetime | None = None,
    ) -> None:
        """Mark an outbox row sent/dropped, or count a failed try (status 'pending')."""
        incidents.finish(
            self._writer, delivery_id, status=status, at=at, error=error, retry_at=retry_at
        )

    def incidents_between(self, since: datetime, until: datetime) -> list[Incident]:
        """Incidents open at any time in ``[since, until)``, newest first."""
        return incidents.incidents_between(self._engine, since, until)

    def open_incidents(self) -> list[Incident]:
        """Incidents not resolved yet, oldest first."""
        return incidents.open_incidents(self._engine)

    def deliveries_sent(self, incident_id: str) -> list[tuple[str, str, int]]:
        """(target, event, attempts) of an incident's sent notifications, in order."""
        return incidents.deliveries_sent(self._engine, incident_id)
