"""Runner heartbeats and schedule slots: the records that make a gap visible.

A slot row is written when the schedule takes a slot (before the round runs)
or skips it; its primary key (probe, runner label, slot) is also the lease
that lets two HA runners of one label share a schedule: the insert that wins
runs the slot, the other is ignored (``INSERT ... ON CONFLICT DO NOTHING`` on
both SQLite and PostgreSQL, atomic under concurrent writers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from probes.records import RunnerBeat
from probes.results.schema import (
    epoch_minute,
    rounds,
    runner_heartbeats,
    schedule_slots,
    to_utc,
)

DATA_STATUSES = ("passed", "failed")
_h = runner_heartbeats.c
_slot = schedule_slots.c


def _beat_row(b: RunnerBeat) -> dict[str, object]:
    return {
        "instance": b.instance,
        "runner": b.runner,
        "host": b.host,
        "pid": b.pid,
        "ha": b.ha,
        "probes": json.dumps(dict(b.probes), sort_keys=True),
        "beat_every_s": b.beat_every_s,
        "started_at": b.started_at,
        "beat_at": b.beat_at,
        "last_stored_at": b.last_stored_at,
        "state": b.state,
        "stalls": b.stalls,
        "last_stall_at": b.last_stall_at,
        "detail": b.detail,
    }


def write_beat(writer: Engine, beat: RunnerBeat) -> None:
    """Insert or update this process's heartbeat row."""
    row = _beat_row(beat)
    with writer.begin() as conn:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        stmt = dialect.insert(runner_heartbeats).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["instance"],
            set_={k: stmt.excluded[k] for k in row if k != "instance"},
        )
        conn.execute(stmt)


def runner_beats(engine: Engine) -> list[RunnerBeat]:
    """Every stored heartbeat, by runner label then start."""
    query = select(runner_heartbeats).order_by(_h.runner, _h.started_at, _h.instance)
    with engine.connect() as conn:
        return [
            RunnerBeat(
                instance=r.instance,
                runner=r.runner,
                host=r.host,
                pid=r.pid,
                ha=r.ha,
                probes=tuple(sorted(json.loads(r.probes).items())),
                beat_every_s=r.beat_every_s,
                started_at=r.started_at,
                beat_at=r.beat_at,
                last_stored_at=r.last_stored_at,
                state=r.state,
                stalls=r.stalls,
                last_stall_at=r.last_stall_at,
                detail=r.detail,
            )
            for r in conn.execute(query)
        ]


def take_slot(
    writer: Engine,
    *,
    probe: str,
    runner: str,
    slot: datetime,
    instance: str,
    run_id: str,
    state: str,
    reason: str = "",
    holder_dead: Callable[[str, int], bool] | None = None,
) -> bool:
    """Record the slot as ``state`` for this instance; False when another already has it.

    A slot ``started`` by a process that is known to be dead (``holder_dead(host, pid)``
    of its heartbeat: a runner restarted within one interval after a SIGKILL) and whose
    round never came is taken over: the new process's round fills it, rather than the
    slot being marked ``lost`` later while a round of that slot is stored without it.
    """
    row = {
        "probe": probe,
        "runner": runner,
        "slot": slot,
        "minute": epoch_minute(slot),
        "state": state,
        "run_id": run_id,
        "instance": instance,
        "reason": reason,
    }
    with writer.begin() as conn:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        stmt = dialect.insert(schedule_slots).values(row).on_conflict_do_nothing()
        # RETURNING, not rowcount: psycopg reports 1 for a row ON CONFLICT skipped.
        if conn.execute(stmt.returning(_slot.slot)).first() is not None:
            return True
        return holder_dead is not None and _take_over(conn, row, holder_dead)


def _take_over(
    conn: Connection, row: dict[str, Any], holder_dead: Callable[[str, int], bool]
) -> bool:
    """Move a dead process's started, never-stored slot to this instance (see take_slot)."""
    key = and_(
        _slot.probe == row["probe"], _slot.runner == row["runner"], _slot.slot == row["slot"]
    )
    stored = exists().where(rounds.c.run_id == _slot.run_id)
    holder = conn.execute(
        select(_slot.instance, _h.host, _h.pid)
        .join(runner_heartbeats, _h.instance == _slot.instance)
        .where(key, _slot.state == "started", _slot.instance != row["instance"], ~stored)
    ).first()
    if holder is None or not holder_dead(holder.host, holder.pid):
        return False
    moved = conn.execute(
        update(schedule_slots)
        .where(key, _slot.instance == holder.instance, _slot.state == "started")
        .values(run_id=row["run_id"], instance=row["instance"], state=row["state"])
    )
    return int(moved.rowcount) == 1


def mark_lost(writer: Engine, runner: str, dead_instances: Sequence[str], before: datetime) -> int:
    """Slots started before ``before`` by dead instances whose round never came: ``lost``."""
    if not dead_instances:
        return 0
    stored = exists().where(rounds.c.run_id == _slot.run_id)
    stmt = (
        update(schedule_slots)
        .where(
            _slot.runner == runner,
            _slot.state == "started",
            _slot.slot < to_utc(before),
            _slot.instance.in_(list(dead_instances)),
            ~stored,
        )
        .values(state="lost", reason="the runner process died before storing the round")
    )
    with writer.begin() as conn:
        return int(conn.execute(stmt).rowcount)


def slots_with_data(
    engine: Engine, probe: str, runner: str, since: datetime, until: datetime
) -> int:
    """Slots in ``[since, until)`` of (probe, runner) whose stored round has data."""
    query = (
        select(func.count())
        .select_from(schedule_slots.join(rounds, rounds.c.run_id == _slot.run_id))
        .where(
            _slot.probe == probe,
            _slot.runner == runner,
            _slot.slot >= to_utc(since),
            _slot.slot < to_utc(until),
            rounds.c.status.in_(DATA_STATUSES),
        )
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def slot_rows(
    engine: Engine, runner: str, since: datetime, until: datetime
) -> list[dict[str, object]]:
    """The slot records of one runner label in ``[since, until)``, oldest first."""
    query = (
        select(schedule_slots)
        .where(
            _slot.runner == runner, and_(_slot.slot >= to_utc(since), _slot.slot < to_utc(until))
        )
        .order_by(_slot.slot, _slot.probe)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def prune_schedule(writer: Engine, cutoff: datetime) -> int:
    """Drop slot records before ``cutoff`` and heartbeats that last beat before it."""
    cutoff = to_utc(cutoff)
    with writer.begin() as conn:
        gone = conn.execute(delete(schedule_slots).where(_slot.slot < cutoff)).rowcount
        gone += conn.execute(delete(runner_heartbeats).where(_h.beat_at < cutoff)).rowcount
    return int(gone)
