"""Where each probe stands at each location, and which runners are down.

A location is a runner label. The grid's cell for (location, probe) is the
status of that location's latest round of the probe within the last two
intervals plus the round timeout; older than that, or none, is "no data"; a
location whose runner processes have all stopped beating is "down" (never
the last status it happened to store). Pure over rows the caller reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from probes.config import ProbeSettings, Settings
from probes.records import RunnerBeat
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
