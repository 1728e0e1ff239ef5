"""Incidents and the notification outbox in the store.

The judging is pure (``probes.alerting.incidents``); this module keeps its state:
each subject's streaks (``alert_subjects``), the incidents, and one outbox row
per (incident, notify target, event). Outbox rows are inserted if absent (the
triple is unique), in the same transaction as the state change that causes them,
so a restart never notifies the same incident state twice: a row is either
pending, sent or dropped, and only pending rows are sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from probes.alerting.incidents import Incident, Subject, Tracked, Transition
from probes.results.schema import alert_subjects, incidents, notifications

_i = incidents.c
_n = notifications.c


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row, with its incident."""

    id: int
    incident: Incident
    target: str
    event: str
    due_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Planned:
    """An outbox row to add if absent."""

    incident_id: str
    target: str
    event: str
    due_at: datetime


def _incident(row: Any) -> Incident:
    m = row._mapping
    subject = Subject(m["probe"], m["target"], m["runner"])
    return Incident(
        m["id"], subject, m["kind"], m["objective"], m["opened_at"], m["resolved_at"],
        m["severity"], m["summary"], json.loads(m["figures"]),
    )  # fmt: skip


def tracked(engine: Engine, subjects: Sequence[Subject]) -> dict[str, Tracked]:
    """The stored state of ``subjects`` (by key); absent ones have none yet."""
    by_key = {s.key: s for s in subjects}
    if not by_key:
        return {}
    a = alert_subjects.c
    query = (
        select(a.key, a.bad_streak, a.good_streak, *incidents.c)
        .select_from(alert_subjects.outerjoin(incidents, _i.id == a.incident_id))
        .where(a.key.in_(list(by_key)))
    )
    out = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            m = row._mapping
            incident = _incident(row) if m["id"] is not None else None
            out[m["key"]] = Tracked(by_key[m["key"]], m["bad_streak"], m["good_streak"], incident)
    return out


def save(
    writer: Engine,
    states: Sequence[Tracked],
    transitions: Sequence[Transition],
    planned: Sequence[Planned],
) -> None:
    """Store the new states, the transitions and their outbox rows in one transaction."""
    with writer.begin() as conn:
        for t in transitions:
            if t.status == "firing":
                conn.execute(insert(incidents), [_incident_row(t.incident)])
            else:
                conn.execute(
                    update(incidents)
                    .where(_i.id == t.incident.id)
                    .values(resolved_at=t.incident.resolved_at)
                )
        for state in sorted(states, key=lambda s: s.subject.key):
            _put_subject(conn, state)
        add_planned(conn, planned)


def _incident_row(incident: Incident) -> dict[str, Any]:
    s = incident.subject
    return {
        "id": incident.id, "kind": incident.kind, "objective": incident.objective,
        "probe": s.probe,
        "target": s.target, "runner": s.runner, "severity": incident.severity,
        "opened_at": incident.opened_at, "resolved_at": incident.resolved_at,
        "summary": incident.summary, "figures": json.dumps(incident.figures, sort_keys=True),
    }  # fmt: skip


def _put_subject(conn: Connection, state: Tracked) -> None:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    row = {
        "key": state.subject.key,
        "bad_streak": state.bad_streak,
        "good_streak": state.good_streak,
        "incident_id": state.incident.id if state.incident else None,
    }
    stmt = dialect.insert(alert_subjects)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={k: stmt.excluded[k] for k in ("bad_streak", "good_streak", "incident_id")},
    )
    conn.execute(stmt, [row])


def add_planned(conn: Connection, planned: Sequence[Planned]) -> None:
    """Insert outbox rows unless the (incident, target, event) is already there."""
    if not planned:
        return
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    rows = [
        {
            "incident_id": p.incident_id, "target": p.target, "event": p.event,
            "status": "pending", "due_at": p.due_at, "attempts": 0, "last_error": "",
        }
        for p in planned
    ]  # fmt: skip
    conn.execute(dialect.insert(notifications).on_conflict_do_nothing(), rows)


def plan(writer: Engine, planned: Sequence[Planned]) -> None:
    """``add_planned`` in a transaction of its own (the repeats of open incidents)."""
    with writer.begin() as conn:
        add_planned(conn, planned)


def due(engine: Engine, now: datetime, limit: int = 50) -> list[Delivery]:
    """Pending outbox rows due at ``now``, oldest first (a firing before its resolved)."""
    query = (
        select(
            _n.id.label("delivery_id"),
            _n.target.label("notify"),
            _n.event,
            _n.due_at,
            _n.attempts,
            *incidents.c,
        )
        .select_from(notifications.join(incidents, _i.id == _n.incident_id))
        .where(_n.status == "pending", _n.due_at <= now)
        .order_by(_n.due_at, _n.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [
            Delivery(r.delivery_id, _incident(r), r.notify, r.event, r.due_at, r.attempts)
            for r in conn.execute(query)
        ]


def events_of(engine: Engine, incident_ids: Sequence[str]) -> dict[tuple[str, str], dict[str, str]]:
    """(incident, target) -> {event: status} of the outbox, for planning repeats."""
    if not incident_ids:
        return {}
    query = select(_n.incident_id, _n.target, _n.event, _n.status).where(
        _n.incident_id.in_(list(incident_ids))
    )
    out: dict[tuple[str, str], dict[str, str]] = {}
    with engine.connect() as conn:
        for incident_id, target, event, status in conn.execute(query):
            out.setdefault((incident_id, target), {})[event] = status
    return out


def claim(writer: Engine, delivery: Delivery, until: datetime) -> bool:
    """Take a due row for sending: push its ``due_at`` to ``until`` unless another did.

    A compare-and-set on the ``due_at`` it was read with, so of several senders
    over one store (``--ha`` runners) exactly one sends it. If the sender dies
    before ``finish``, the row is due again at ``until``.
    """
    query = (
        update(notifications)
        .where(_n.id == delivery.id, _n.status == "pending", _n.due_at == delivery.due_at)
        .values(due_at=until)
    )
    with writer.begin() as conn:
        return conn.execute(query).rowcount == 1


def finish(
    writer: Engine,
    delivery_id: int,
    *,
    status: str,
    at: datetime | None = None,
    error: str = "",
    retry_at: datetime | None = None,
) -> None:
    """Mark a delivery sent or dropped, or count a failed attempt and set its next try."""
    values: dict[str, Any] = {"last_error": error}
    if status == "pending":
        values |= {"attempts": _n.attempts + 1, "due_at": retry_at}
    else:
        values |= {"status": status, "sent_at": at}
    with writer.begin() as conn:
        conn.execute(update(notifications).where(_n.id == delivery_id).values(**values))


def incidents_between(engine: Engine, since: datetime, until: datetime) -> list[Incident]:
    """Incidents open at any time in ``[since, until)``, newest first."""
    query = (
        select(*incidents.c)
        .where(_i.opened_at < until, or_(_i.resolved_at.is_(None), _i.resolved_at >= since))
        .order_by(_i.opened_at.desc(), _i.id)
    )
    with engine.connect() as conn:
        return [_incident(r) for r in conn.execute(query)]


def open_incidents(engine: Engine) -> list[Incident]:
    with engine.connect() as conn:
        query = select(*incidents.c).where(_i.resolved_at.is_(None)).order_by(_i.opened_at)
        return [_incident(r) for r in conn.execute(query)]


def deliveries_sent(engine: Engine, incident_id: str) -> list[tuple[str, str, int]]:
    """(target, event, attempts) of the sent deliveries of an incident (tests, reports)."""
    query = (
        select(_n.target, _n.event, _n.attempts)
        .where(and_(_n.incident_id == incident_id, _n.status == "sent"))
        .order_by(_n.id)
    )
    with engine.connect() as conn:
        return [(t, e, int(a)) for t, e, a in conn.execute(query)]
