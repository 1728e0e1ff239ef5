"""Where each probe stands at each location, which runners are down, and each
location's own objectives over a range.

A location is a runner label. The grid's cell for (location, probe) is the
status of that location's latest round of the probe within the last two
intervals plus the round timeout; older than that, or none, is "no data"; a
location whose runner processes have all stopped beating is "down" (never
the last status it happened to store). ``by_location`` judges a range over
every location and at each one alone (``evaluate_locations``: the counts are
read once, grouped by runner), so each location's coverage counts its own
scheduled slots: the Stability page and the reports show the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from probes.config import ProbeSettings, Settings
from probes.judging.evaluation import Evaluation, evaluate_locations
from probes.records import Filters, RunnerBeat
from probes.results import ResultStore

DOWN = "down"
NO_DATA = "no data"


def freshness(probe: ProbeSettings) -> timedelta:
    """How old a probe's latest round may be and still tell its current status."""
    return timedelta(seconds=2 * probe.every_s + probe.timeout_s)


def lookback(probes: Sequence[ProbeSettings]) -> timedelta:
    """The window of rounds the grid needs."""
    return max(freshness(p) for p in probes)


def down_labels(beats: Iterable[RunnerBeat], now: datetime) -> set[str]:
    """Runner labels whose every process is down (stopped, or no beat for 3 intervals)."""
    by_label: dict[str, list[bool]] = {}
    for beat in beats:
        by_label.setdefault(beat.runner, []).append(beat.down(now))
    return {label for label, down in by_label.items() if all(down)}


def grid(
    rounds: Iterable[Mapping[str, Any]],
    beats: Sequence[RunnerBeat],
    probes: Sequence[ProbeSettings],
    now: datetime,
) -> pd.DataFrame:
    """Locations (rows) x probes (columns) -> "passed", "failed", "error", "skipped",
    "no data" or "down". ``rounds`` are round rows (``started_at`` ISO or datetime)."""
    latest: dict[tuple[str, str], tuple[datetime, str]] = {}
    for row in rounds:
        at = pd.Timestamp(row["started_at"]).to_pydatetime()
        key = (str(row["runner"]), str(row["probe"]))
        if key not in latest or latest[key][0] < at:
            latest[key] = (at, str(row["status"]))
    scheduled = {(b.runner, name) for b in beats for name, _every in b.probes}
    labels = sorted({b.runner for b in beats} | {runner for runner, _ in latest})
    down = down_labels(beats, now)
    cells: dict[str, dict[str, str]] = {}
    for probe in probes:
        column = {}
        for label in labels:
            seen = latest.get((label, probe.name))
            if label in down and (label, probe.name) in scheduled:
                column[label] = DOWN
            elif seen is None or now - seen[0] > freshness(probe):
                column[label] = NO_DATA
            else:
                column[label] = seen[1]
        cells[probe.name] = column
    return pd.DataFrame(cells, index=pd.Index(labels, name="location"), dtype=object)


def runners_frame(beats: Sequence[RunnerBeat], now: datetime) -> pd.DataFrame:
    """One row per runner process: label, state as a reader sees it, last beat, stalls."""
    rows = [
        {
            "runner": b.runner,
            "state": DOWN if b.down(now) else b.state,
            "host": b.host,
            "pid": b.pid,
            "ha": b.ha,
            "started_at": b.started_at,
            "beat_at": b.beat_at,
            "last_stored_at": b.last_stored_at,
            "stalls": b.stalls,
            "detail": b.detail,
        }
        for b in beats
    ]
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["runner", "state"])


def read(
    store: ResultStore, settings: Settings, until: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grid and the runner processes as of ``until``, read from the store."""
    beats = store.runner_beats()
    rounds = store.rounds_between(until - lookback(settings.probes), until)
    return grid(rounds, beats, settings.probes, until), runners_frame(beats, until)


# --- each location's objectives over a range ----------------------------------------

LOCATION_COLUMNS = ["name", "location", "status", "value", "good", "valid", "coverage"]


@dataclass(frozen=True, slots=True)
class Location:
    """One runner label's own evaluation of a window."""

    runner: str
    evaluation: Evaluation


def location_labels(store: ResultStore, filters: Filters) -> list[str]:
    """The filter's runner, or every label with stored rounds or a heartbeat."""
    if filters.runner is not None:
        return [filters.runner]
    known = set(store.labels()["runners"]) | {b.runner for b in store.runner_beats()}
    return sorted(known)


def by_location(
    store: ResultStore, settings: Settings, since: datetime, until: datetime, filters: Filters
) -> tuple[Evaluation, tuple[Location, ...]]:
    """``[since, until)`` judged over every location (the pooled answer) and at every
    location (or the filter's one) alone, from one grouped read per objective
    (``evaluate_locations``)."""
    pooled, each = evaluate_locations(
        store, settings, since=since, until=until, runners=location_labels(store, filters),
        filters=filters,
    )  # fmt: skip
    return pooled, tuple(Location(runner, evaluation) for runner, evaluation in each.items())


def location_frame(locations: Sequence[Location]) -> pd.DataFrame:
    """One row per objective and location (``LOCATION_COLUMNS``), objective by objective."""
    rows = [
        (r.name, loc.runner, r.status, r.value, r.good, r.valid, r.coverage)
        for i in range(len(locations[0].evaluation.results) if locations else 0)
        for loc in locations
        for r in [loc.evaluation.results[i]]
    ]
    return pd.DataFrame(rows, columns=LOCATION_COLUMNS)
