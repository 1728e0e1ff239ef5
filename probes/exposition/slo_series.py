"""The SLO series of ``/metrics``: each objective per (probe, target, runner), judged purely.

The counts come from ``ResultStore.slo_segments`` (the per-minute rollups, one
grouped query per objective); the judging is ``probes.judging.slo.evaluate`` on
one bucket per segment, so ``/metrics`` agrees with the gate, the reports and the
dashboard. Segments are cut at every window start the maths needs (the
objective's window and each burn-rate rule's two windows), so every window sum
is exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from probes.config import Settings, SloSettings
from probes.judging import slo as maths
from probes.records import Annotation, SliBucket
from probes.results import ResultStore, epoch_minute
from probes.results.sli_cache import minute_start

RULES = maths.MULTIWINDOW_RULES


@dataclass(frozen=True, slots=True)
class SloSeries:
    """One objective's figures for one (probe, target, runner)."""

    slo: SloSettings
    labels: tuple[str, str, str]
    good_total: int  # every event ever counted, maintenance included (a counter never drops)
    valid_total: int
    result: maths.SloResult


def window_label(seconds: float) -> str:
    """``300`` -> ``5m``, ``3600`` -> ``1h``, ``259200`` -> ``3d``: the ``window`` label."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def maintenance_minutes(
    notes: Iterable[Annotation], until: datetime
) -> list[tuple[int, int, str | None]]:
    """Maintenance windows as epoch-minute ranges ``[a, b)``, each minute they touch whole."""
    out = []
    for note in notes:
        end = until if note.end is None else min(note.end, until)
        if note.kind == "maintenance" and note.start < end:
            last = epoch_minute(end) + (end != end.replace(second=0, microsecond=0))
            out.append((epoch_minute(note.start), last, note.target))
    return out


def objective_series(store: ResultStore, settings: Settings, now: datetime) -> list[SloSeries]:
    """Every objective's figures per series, with windows ending after ``now``'s minute."""
    until_minute = epoch_minute(now) + 1
    until = minute_start(until_minute)
    longest = max([s.window_s for s in settings.slos] + [r.long_window_s for r in RULES])
    notes = store.annotations_between(until - timedelta(seconds=longest), until)
    paused = maintenance_minutes(notes, until)
    bounds = _bounds(settings.slos, until_minute)
    counted = store.slo_segments(settings.slos, bounds, paused, until)
    out = []
    for objective in settings.slos:
        for labels, segs in sorted(counted.get(objective.name, {}).items()):
            out.append(_judge(settings, objective, labels, bounds, segs, until))
    return out


def _bounds(objectives: Sequence[SloSettings], until_minute: int) -> list[int]:
    """Every window start any objective needs: each sum over a window is then exact."""
    windows = {s.window_s for s in objectives} | {r.long_window_s for r in RULES}
    windows |= {r.short_window_s for r in RULES}
    return sorted({until_minute - math.ceil(w / 60) for w in windows})


def _judge(
    settings: Settings,
    objective: SloSettings,
    labels: tuple[str, str, str],
    bounds: Sequence[int],
    segs: Sequence[tuple[int, int, int, int]],
    until: datetime,
) -> SloSeries:
    starts = [0, *bounds]
    buckets = [
        SliBucket(minute_start(start), good, valid)
        for start, (_, _, good, valid) in zip(starts, segs, strict=True)
        if valid
    ]
    since = until - timedelta(minutes=math.ceil(objective.window_s / 60))
    result = maths.evaluate(
        objective,
        buckets,
        since=since,
        until=until,
        width_s=60,
        maintenance=(),  # excluded in SQL, per minute and target
        coverage=1.0,
        alerts=settings.alerts,
    )
    return SloSeries(objective, labels, sum(s[0] for s in segs), sum(s[1] for s in segs), result)
