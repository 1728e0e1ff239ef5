"""Incidents as a table for the Live page and the reports: open ones first, newest first."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from probes.alerting.incidents import Incident
from probes.results import ResultStore

COLUMNS = (
    "state", "opened_at", "resolved_at", "probe", "target", "runner", "opened_by",
    "summary", "incident_id",
)  # fmt: skip


def opened_by(incident: Incident) -> str:
    """What opened it: the objective whose alert fired, or the failed rounds."""
    return f"objective {incident.objective}" if incident.objective else "failed rounds"


def frame(incidents: list[Incident]) -> pd.DataFrame:
    """One row per incident; open ones (no ``resolved_at``) first."""
    rows = [
        {
            "state": "open" if i.resolved_at is None else "resolved",
            "opened_at": i.opened_at,
            "resolved_at": i.resolved_at,
            "probe": i.subject.probe,
            "target": i.subject.target,
            "runner": i.subject.runner,
            "opened_by": opened_by(i),
            "summary": i.summary,
            "incident_id": i.id,
        }
        for i in sorted(incidents, key=_open_first)
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _open_first(i: Incident) -> tuple[bool, float]:
    """Sort key: open incidents first, then the newest opened."""
    return (i.resolved_at is not None, -i.opened_at.timestamp())


def incidents_frame(store: ResultStore, since: datetime, until: datetime) -> pd.DataFrame:
    """Incidents open at any time in ``[since, until)``."""
    return frame(store.incidents_between(since, until))
