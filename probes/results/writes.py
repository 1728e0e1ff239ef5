"""Writes: a round whole (with the minute rollup and SLI cache), annotations, retention."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from probes.records import INTERNAL_ERROR_CLOSE, Annotation, RoundResult, SessionResult
from probes.results import exposition, histograms, hourly, sli
from probes.results.bulk import insert_rows, new_ids
from probes.results.errors import RoundNotSaved
from probes.results.labels import remember_labels
from probes.results.rows import event_row, round_row, session_row, timing_row
from probes.results.schema import (
    UNCOUNTED_STATUSES,
    annotation_table,
    db_timings,
    epoch_minute,
    memory_samples,
    rounds,
    session_events,
    session_rollup,
    sessions,
    to_utc,
)
from probes.results.sli_cache import forget_minutes
from probes.results.sli_tracking import refill, tracked_definitions


def save_round(writer: Engine, r: RoundResult) -> None:
    """Store the round and everything in it, and its rollup counts, in one transaction.

    The SLI cache of every minute the round falls in is deleted in the same
    transaction, so a round saved late never leaves a stale cached count, and
    counted again for every tracked definition (``sli_tracking``).
    """
    save_rounds(writer, [r])


def save_rounds(writer: Engine, batch: Sequence[RoundResult]) -> None:
    """``save_round`` of every round of ``batch`` in one transaction (all or none).

    The SLI cache is forgotten and counted again once, over the minutes from
    the batch's first to its last: for loading a history, many rounds at once.
    """
    if not batch:
        return
    try:
        with writer.begin() as conn:
            tracked = [(d, sli.source_of(d)) for d in tracked_definitions(conn)]
            minutes = [epoch_minute(s.started_at) for r in batch for s in r.sessions]
            minutes += [epoch_minute(r.started_at) for r in batch]  # round rows, DB timings
            first, last = min(minutes), max(minutes)
            # On PostgreSQL this waits for a cache fill in progress (sli_cache).
            forget_minutes(conn, first, last)
            _insert_rounds(conn, batch)
            found: dict[histograms.Key, histograms.Histogram] = {}
            for r in batch:
                for key, counted in histograms.of_round(r).items():
                    found.setdefault(key, histograms.Histogram()).merge(counted)
            histograms.save(conn, found)
            refill(conn, tracked, first, last)  # last: it reads what was inserted above
    except (SQLAlchemyError, ValueError) as exc:
        cause = getattr(exc, "orig", None) or exc
        names = batch[0].run_id if len(batch) == 1 else f"{batch[0].run_id}..{batch[-1].run_id}"
        raise RoundNotSaved(f"round {names!r} not saved: {cause}") from exc


def _insert_rounds(conn: Connection, batch: Sequence[RoundResult]) -> None:
    """The batch's rows, a few statements per table for all of its rounds together."""
    conn.execute(insert(rounds), [round_row(r) for r in batch])
    exposition.add_rounds(conn, batch)  # the exporter's all-time counters
    for r in {(r.probe, r.target, r.runner): r for r in batch}.values():
        remember_labels(conn, r)
    every = [s for r in batch for s in r.sessions]
    if every:
        ids = new_ids(conn, sessions, len(every))
        rows = [session_row(s) | {"id": i} for i, s in zip(ids, every, strict=True)]
        insert_rows(conn, sessions, rows)
        events = [
            event_row(sid, i, e)
            for sid, s in zip(ids, every, strict=True)
            for i, e in enumerate(s.events)
        ]
        insert_rows(conn, session_events, events)
    counted = [s for r in batch if r.status not in UNCOUNTED_STATUSES for s in r.sessions]
    if counted:
        _add_to_rollup(conn, counted)
    _add_auth_checks(conn, batch)
    samples = [
        {"run_id": r.run_id, "at": m.at, "rss_mb": m.rss_mb}
        for r in batch
        for m in r.memory_samples
    ]
    insert_rows(conn, memory_samples, samples)  # COPY on PostgreSQL, as sessions
    insert_rows(conn, db_timings, [timing_row(r, t) for r in batch for t in r.db_timings])


def _add_to_rollup(conn: Connection, items: Sequence[SessionResult]) -> None:
    counts: dict[tuple[datetime, str, str, str], Counter[str]] = {}
    for s in items:
        minute = to_utc(s.started_at).replace(second=0, microsecond=0)
        c = counts.setdefault((minute, s.probe, s.target, s.runner), Counter())
        c["sessions"] += 1
        c["ok"] += s.outcome == "ok"
        c["complete_in_order"] += s.complete and s.order_ok
        c["not_1011"] += s.close_code != INTERNAL_ERROR_CLOSE
        c["no_foreign"] += s.foreign_events == 0
        c["connected"] += s.http_status is None and s.connect_ms is not None
        c["planned"] += s.reason == "planned_close"
    rows = [
        {"bucket": k[0], "probe": k[1], "target": k[2], "runner": k[3]}
        | {"minute": epoch_minute(k[0])}
        | dict(c)
        for k, c in counts.items()
    ]
    key = ("bucket", "probe", "target", "runner")
    hourly.add_rows(conn, session_rollup, key, hourly.SESSION_COUNTS, rows)
    hourly.add_counts(conn, {(epoch_minute(k[0]), *k[1:]): c for k, c in counts.items()})


def _add_auth_checks(conn: Connection, batch: Sequence[RoundResult]) -> None:
    """The rounds' auth checks (``auth_rejection``) in their hours' roll-up rows."""
    counts: dict[tuple[int, str, str, str], Counter[str]] = {}
    for r in batch:
        if r.auth_check is not None:  # as round_row stores auth_ok
            key = (epoch_minute(r.started_at), r.probe, r.target, r.runner)
            c = counts.setdefault(key, Counter())
            c["auth_checks"] += 1
            c["auth_ok"] += bool(r.auth_check.ok)
    hourly.add_counts(conn, counts)


def add_annotation(writer: Engine, a: Annotation) -> int:
    """Store a deploy/incident/maintenance note; returns its id."""
    if a.end is not None and a.end < a.start:
        raise ValueError("annotation end is before its start")
    row = {"kind": a.kind, "start": a.start, "end": a.end, "text": a.text, "target": a.target}
    with writer.begin() as conn:
        query = insert(annotation_table).returning(annotation_table.c.id)
        return int(conn.execute(query, row).scalar_one())


def prune_older_than(writer: Engine, cutoff: datetime, batch_size: int) -> int:
    """Delete raw rows before ``cutoff`` in short batches; returns how many went."""
    cutoff = to_utc(cutoff)
    deleted = 0
    for table, at, children in (
        (sessions, sessions.c.started_at, session_events.c.session_id),
        (memory_samples, memory_samples.c.at, None),
        (db_timings, db_timings.c.started_at, None),
    ):
        while True:
            with writer.begin() as conn:
                query = select(table.c.id).where(at < cutoff).limit(batch_size)
                ids = conn.execute(query).scalars().all()
                if not ids:
                    break
                if children is not None:
                    deleted += conn.execute(
                        delete(children.table).where(children.in_(ids))
                    ).rowcount
                deleted += conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount
    return deleted
