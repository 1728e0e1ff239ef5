"""Stored records -> every objective's result and one overall verdict.

The single place where the store and the SLO maths meet; ``slawatch probe
--gate``, the reports and the dashboard all call it, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from probes.config import ProbeSettings, Settings, SloSettings
from probes.judging import slo
from probes.judging.aggregate import aggregate_slices, parse_aggregate
from probes.records import Annotation, Filters, RunnerBeat, RunnerBuckets, pooled_buckets
from probes.results import ResultStore
from probes.slots import first_slot_at_or_after, slots_between

BUCKET_S = 60
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Burn-rate alerts look back this far before the window's end (the longest rule).
ALERT_LOOKBACK = timedelta(seconds=max(r.long_window_s for r in slo.MULTIWINDOW_RULES))
DATA_STATUSES = ("passed", "failed")
# How long after its round's timeout a slot's round must be stored: the
# scheduler's grace (probes.scheduling.scheduler.ROUND_GRACE_S) plus the write.
SETTLE_S = 6.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The objectives over one window, with the verdict and what it rests on."""

    since: datetime
    until: datetime
    results: tuple[slo.SloResult, ...]
    verdict: slo.Verdict
    reason: str
    rounds: dict[str, int]  # rounds in the window by status
    maintenance: tuple[Annotation, ...]
    min_coverage: float  # percent

    @property
    def rounds_with_data(self) -> int:
        return sum(self.rounds.get(s, 0) for s in DATA_STATUSES)


def _probes_of(settings: Settings, filters: Filters, only: str | None) -> list[ProbeSettings]:
    names = {n for n in (filters.probe, only) if n}
    return [p for p in settings.probes if not names or p.name in names]


def window_coverage(
    store: ResultStore,
    settings: Settings,
    since: datetime,
    until: datetime,
    filters: Filters,
    only_probe: str | None = None,
    expected_rounds: int | None = None,
) -> float:
    """Share of scheduled slots with data; the least covered (probe, runner) counts.

    The slots are the ones each runner's schedule implies (``slot_coverage``):
    one-off rounds fill none, and a runner that was down leaves its slots empty.
    A probe no runner ever scheduled falls back to stored rounds over the
    window's expected count. With ``expected_rounds`` (a `slawatch probe` run),
    it is simply the share of the requested rounds that produced data.
    """
    if expected_rounds is not None:
        counts = store.round_counts(since, until, filters)
        with_data = sum(counts.get(s, 0) for s in DATA_STATUSES)
        return min(1.0, with_data / max(1, expected_rounds))
    return coverages(store, settings, since, until, filters, only_probe, ())[None]


def coverages(
    store: ResultStore,
    settings: Settings,
    since: datetime,
    until: datetime,
    filters: Filters,
    only_probe: str | None,
    runners: Sequence[str],
) -> dict[str | None, float]:
    """``window_coverage`` of ``filters`` (key None) and of each runner label alone.

    One pass over the schedules: each (probe, label) share is read once, and a
    location's coverage is the least of its own shares; a probe its label never
    scheduled falls back, for that location, to its stored rounds.
    """
    beats = store.runner_beats()
    shares: dict[str | None, list[float]] = {None: [], **{r: [] for r in runners}}
    for probe in _probes_of(settings, filters, only_probe):
        per_runner = slot_coverage(store, beats, probe, since, until, filters.runner)
        for view, found in shares.items():
            if per_runner is None or (view is not None and view not in per_runner):
                where = filters if view is None else _with_runner(filters, view)
                found.append(_round_share(store, probe, since, until, where))
            elif view is None:
                found += [share for share in per_runner.values() if share is not None]
            elif (share := per_runner[view]) is not None:
                found.append(share)
    return {view: min(found) if found else 0.0 for view, found in shares.items()}


def _round_share(
    store: ResultStore, probe: ProbeSettings, since: datetime, until: datetime, filters: Filters
) -> float:
    """Stored rounds with data over the window's expected count (no schedule to count)."""
    counts = store.round_counts(since, until, _with_probe(filters, probe.name))
    with_data = sum(counts.get(s, 0) for s in DATA_STATUSES)
    return slo.coverage(with_data, since=since, until=until, every_s=probe.every_s)


def slot_coverage(
    store: ResultStore,
    beats: list[RunnerBeat],
    probe: ProbeSettings,
    since: datetime,
    until: datetime,
    runner: str | None = None,
) -> dict[str, float | None] | None:
    """Per runner label: the share of its slots of ``probe`` in the window with data.

    A label's slots start at its first process's start (the schedule did not
    exist before) and end where a round started in the slot must have been
    stored (``timeout`` plus the scheduler's grace before ``until``); a label
    with no such slot in the window maps to None. None when no runner ever
    scheduled ``probe`` (there is no schedule to count).
    """
    firsts: dict[str, datetime] = {}
    for beat in beats:
        if probe.name in dict(beat.probes) and runner in (None, beat.runner):
            firsts[beat.runner] = min(firsts.get(beat.runner, beat.started_at), beat.started_at)
    if not firsts:
        return None
    end = until - timedelta(seconds=probe.timeout_s + SETTLE_S) + timedelta(microseconds=1)
    out: dict[str, float | None] = {}
    for label, first in sorted(firsts.items()):
        start = max(since, first_slot_at_or_after(first, probe.every_s))
        expected = slots_between(start, end, probe.every_s)
        if expected == 0:
            out[label] = None
            continue
        good = store.slots_with_data(probe.name, label, start, end) if end > start else 0
        out[label] = good / expected
    return out


def _with_probe(filters: Filters, name: str) -> Filters:
    return Filters(filters.target, name, filters.runner, filters.run_ids)


def _with_runner(filters: Filters, runner: str) -> Filters:
    return Filters(filters.target, filters.probe, runner, filters.run_ids)


def floor_to_bucket(moment: datetime) -> datetime:
    """The start of the SLI bucket that holds ``moment`` (buckets are aligned to the epoch)."""
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    offset = (moment - epoch).total_seconds() % BUCKET_S
    return moment - timedelta(seconds=offset)


def evaluate_objective(
    store: ResultStore,
    settings: Settings,
    objective: SloSettings,
    *,
    since: datetime,
    until: datetime,
    filters: Filters,
    maintenance: tuple[Annotation, ...],
    coverage: float,
) -> slo.SloResult:
    """One objective over [since, until), with burn-rate alerts ending at ``until``."""
    views = judge_views(
        store, settings, objective, since=since, until=until, filters=filters,
        maintenance=maintenance, coverage={None: coverage},
    )  # fmt: skip
    return views[None]


def judge_views(
    store: ResultStore,
    settings: Settings,
    objective: SloSettings,
    *,
    since: datetime,
    until: datetime,
    filters: Filters,
    maintenance: tuple[Annotation, ...],
    coverage: Mapping[str | None, float],
) -> dict[str | None, slo.SloResult]:
    """One objective judged for each view of ``coverage``: None is ``filters`` itself (every
    location), a runner label that location alone; from one grouped read of the store.

    SLI counts come in one-minute buckets, so the window starts at the bucket
    boundary at or before ``since``: a window is never cut inside a minute.
    Where minutes cannot change the answer they are fetched as whole hours or
    days (``sli_buckets``): the result is the one all-minute buckets give. Each
    read is grouped by runner: a location's counts are its own rows, and the
    pooled count of a bucket is the sum over every runner. A non-pooled
    ``aggregate`` judges one-minute slices per location (``aggregate_slices``).
    """
    since = floor_to_bucket(since)
    start = min(since, until - ALERT_LOOKBACK)
    rule = parse_aggregate(objective.aggregate)
    if rule.pooled:
        per_runner = sli_buckets(store, objective, since, start, until, filters, maintenance)
    else:
        per_runner = store.sli_counts_by_runner(objective, start, until, filters, BUCKET_S)
    out = {}
    for view, cov in coverage.items():
        mine = per_runner if view is None else {view: per_runner.get(view, [])}
        if rule.pooled:
            buckets = pooled_buckets(mine)
        else:
            buckets = aggregate_slices(mine, rule, objective.objective)
        out[view] = slo.evaluate(
            objective,
            buckets,
            since=since,
            until=until,
            width_s=BUCKET_S,
            maintenance=maintenance,
            coverage=cov,
            alerts=settings.alerts,
        )
    return out


def sli_buckets(
    store: ResultStore,
    objective: SloSettings,
    since: datetime,
    start: datetime,
    until: datetime,
    filters: Filters,
    maintenance: tuple[Annotation, ...],
) -> RunnerBuckets:
    """SLI buckets per runner over [start, until) for ``slo.evaluate``: minutes where they
    matter.

    A 30-day window in minutes is 43,200 buckets per objective. Whole hours
    inside [since, until - ALERT_LOOKBACK) that no maintenance window touches
    come as one hourly bucket each instead, and whole UTC days of such hours as
    one daily bucket (a year: about 365 buckets, not 8,760); every other part (the alert
    lookback, the partial hours at the edges, the hours a maintenance window
    overlaps) stays in one-minute buckets. The answer is unchanged:
    ``slo.evaluate`` drops buckets overlapping maintenance at one-minute
    granularity, and an hour no window touches loses none of its minutes, so
    its sum is what its minutes would add; it starts before every alert window,
    so the burn-rate alerts see minutes only; and it lies inside the window, so
    the compliance counts it whole. ``start`` may be before ``since`` (the
    lookback of a short window), ``since`` is on a minute boundary.
    """
    out: RunnerBuckets = {}
    for a, b, width in _spans(since, start, until, maintenance):
        for runner, buckets in store.sli_counts_by_runner(objective, a, b, filters, width).items():
            out.setdefault(runner, []).extend(buckets)  # spans in order: buckets stay sorted
    return out


def _spans(
    since: datetime, start: datetime, until: datetime, maintenance: tuple[Annotation, ...]
) -> list[tuple[datetime, datetime, int]]:
    """[start, until) cut into consecutive (from, to, width) spans of minutes, hours or days."""
    first = _ceil_hour(since)
    last = _floor_hour(until - ALERT_LOOKBACK)
    # The hours each maintenance window touches (s < hour + 1 h and hour < e), merged.
    touched: list[tuple[datetime, datetime]] = []
    for a, b in sorted(
        (_floor_hour(note.start), _ceil_hour(until if note.end is None else note.end))
        for note in maintenance
        if note.kind == "maintenance" and note.start < (until if note.end is None else note.end)
    ):
        if touched and a <= touched[-1][1]:
            touched[-1] = (touched[-1][0], max(b, touched[-1][1]))
        else:
            touched.append((a, b))
    spans: list[tuple[datetime, datetime, int]] = []
    cursor, hour = start, first
    for a, b in [*touched, (last, last)]:
        end = min(a, last)
        if hour < end:  # clean hours [hour, end): hours and days; minutes before them
            if cursor < hour:
                spans.append((cursor, hour, BUCKET_S))
            spans += _days_inside(hour, end)
            cursor = end
        hour = max(hour, b)  # a maintenance hour is left to the minute span
        if hour >= last:
            break
    if cursor < until:
        spans.append((cursor, until, BUCKET_S))
    return spans


def _days_inside(a: datetime, b: datetime) -> list[tuple[datetime, datetime, int]]:
    """Clean whole hours ``[a, b)`` as spans of hours, then whole UTC days, then hours.

    A day bucket is the sum of its 24 hour buckets (both epoch-aligned), so the
    answer is the hours' answer with 24 times fewer rows to fetch and judge.
    """
    first, last = _ceil_day(a), _floor_day(b)
    if first >= last:
        return [(a, b, int(HOUR.total_seconds()))]
    spans = [(a, first, int(HOUR.total_seconds())), (first, last, int(DAY.total_seconds()))]
    spans.append((last, b, int(HOUR.total_seconds())))
    return [span for span in spans if span[0] < span[1]]


def _floor_day(moment: datetime) -> datetime:
    return _floor_hour(moment).replace(hour=0)


def _ceil_day(moment: datetime) -> datetime:
    floor = _floor_day(moment)
    return floor if floor == moment else floor + DAY


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _floor_hour(moment: datetime) -> datetime:
    # In UTC: the store's hourly buckets are aligned to the epoch, not to a local hour.
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def evaluate_window(
    store: ResultStore,
    settings: Settings,
    *,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    expected_rounds: int | None = None,
    slo_windows: bool = False,
) -> Evaluation:
    """Every configured objective over [since, until) and the overall verdict.

    With ``slo_windows`` each objective is judged over its own window ending at
    ``until`` (the dashboard's "current status") instead of the given one.
    """
    views = _evaluate(
        store, settings, since, until, filters or Filters(), (), expected_rounds, slo_windows
    )
    return views[None]


def evaluate_locations(
    store: ResultStore,
    settings: Settings,
    *,
    since: datetime,
    until: datetime,
    runners: Sequence[str],
    filters: Filters | None = None,
) -> tuple[Evaluation, dict[str, Evaluation]]:
    """``evaluate_window`` over every location (pooled, by each objective's aggregate) and
    over each runner label alone (``filters`` with that runner), from the same reads:
    each objective's counts are read once, grouped by runner."""
    views = _evaluate(store, settings, since, until, filters or Filters(), tuple(runners))
    return views[None], {r: views[r] for r in runners}


def _evaluate(
    store: ResultStore,
    settings: Settings,
    since: datetime,
    until: datetime,
    filters: Filters,
    runners: tuple[str, ...],
    expected_rounds: int | None = None,
    slo_windows: bool = False,
) -> dict[str | None, Evaluation]:
    oldest = min([since] + [until - timedelta(seconds=s.window_s) for s in settings.slos])
    maintenance = tuple(
        a
        for a in store.annotations_between(oldest, until, target=filters.target)
        if a.kind == "maintenance"
    )
    where: dict[str | None, Filters] = {
        None: filters,
        **{r: _with_runner(filters, r) for r in runners},
    }
    results: dict[str | None, list[slo.SloResult]] = {view: [] for view in where}
    covered: dict[tuple[datetime, str | None], dict[str | None, float]] = {}  # shared windows
    for objective in settings.slos:
        start = until - timedelta(seconds=objective.window_s) if slo_windows else since
        key = (start, objective.probe)
        if key not in covered and expected_rounds is not None:
            share = window_coverage(
                store, settings, start, until, filters, objective.probe, expected_rounds
            )
            covered[key] = {None: share}
        elif key not in covered:
            covered[key] = coverages(
                store, settings, start, until, filters, objective.probe, runners
            )
        judged = judge_views(
            store, settings, objective, since=start, until=until, filters=filters,
            maintenance=maintenance, coverage=covered[key],
        )  # fmt: skip
        for view, result in judged.items():
            results[view].append(result)
    minimum = settings.gate.min_coverage
    return {
        view: Evaluation(
            since=since,
            until=until,
            results=tuple(results[view]),
            verdict=slo.overall_verdict(results[view], minimum),
            reason=slo.verdict_reason(results[view], minimum),
            rounds=store.round_counts(since, until, where[view]),
            maintenance=maintenance,
            min_coverage=minimum,
        )
        for view in where
    }
