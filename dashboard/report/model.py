"""Stored records -> a ``Report``: the verdict, its evidence and the facts of the report.

Everything a report says comes from here, and everything here comes from the
store: the objectives through ``probes.judging.evaluation.evaluate_window`` (the code the
release gate runs, so both judge the same records alike), the evidence rows through the
store's export queries. The renderers (``text``, ``html_page``,
``pdf``) only lay it out. No Streamlit import.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.chartdata import Series, read_series
from dashboard.report.failures import FailureGroup, breaching_rounds, failure_groups
from dashboard.report.locations import Location, by_location
from probes import tables
from probes.alerting.incidents import Incident
from probes.config import Settings
from probes.export import SESSION_FIELDS, to_text
from probes.judging import breaches
from probes.judging.evaluation import BUCKET_S, Evaluation, evaluate_window
from probes.records import Annotation, Filters
from probes.results import ResultStore
from probes.version import slawatch_version


@dataclass(frozen=True, slots=True)
class Evidence:
    """The session and round rows behind a window, as the CSV the report ships, and their digest.

    ``digest`` is SHA-256 over the UTF-8 bytes of ``sessions_csv`` followed by
    ``rounds_csv``: ``cat report.csv report.rounds.csv | sha256sum``.
    """

    sessions_csv: str
    rounds_csv: str
    sessions: int
    rounds: int

    @property
    def records(self) -> int:
        return self.sessions + self.rounds

    @property
    def sessions_sha256(self) -> str:
        return hashlib.sha256(self.sessions_csv.encode("utf-8")).hexdigest()

    @property
    def rounds_sha256(self) -> str:
        return hashlib.sha256(self.rounds_csv.encode("utf-8")).hexdigest()

    @property
    def digest(self) -> str:
        both = self.sessions_csv.encode("utf-8") + self.rounds_csv.encode("utf-8")
        return hashlib.sha256(both).hexdigest()


@dataclass(frozen=True, slots=True)
class ProbeSeen:
    """One probe of the window as its rounds were stored: what it probed, in which dialect."""

    probe: str
    target: str
    profile: str  # the protocol profile (PROFILES.md) its rounds spoke
    rounds: int


@dataclass(frozen=True, slots=True)
class Period:
    """One window judged: the evaluation, the evidence under it and what failed or breached."""

    evaluation: Evaluation
    evidence: Evidence
    failures: tuple[FailureGroup, ...] = ()
    breaching: int = 0  # rounds that passed on the protocol yet breached an objective
    probes: tuple[ProbeSeen, ...] = ()  # every (probe, target, profile) of the evidence rounds

    @property
    def since(self) -> datetime:
        return self.evaluation.since

    @property
    def until(self) -> datetime:
        return self.evaluation.until


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one compliance report states, computed from stored records only."""

    generated_at: datetime
    version: str
    settings: Settings
    filters: Filters
    main: Period
    baseline: Period | None
    failures: tuple[FailureGroup, ...]
    maintenance: tuple[Annotation, ...]  # overlapping the window: excluded from the SLO maths
    annotations: tuple[Annotation, ...]  # every annotation overlapping the window
    series: Series  # the chart rows (``dashboard.chartdata``)
    incidents: tuple[Incident, ...] = ()  # incidents open at any time in the window
    locations: tuple[Location, ...] = ()  # the window judged per runner label

    @property
    def evaluation(self) -> Evaluation:
        return self.main.evaluation

    @property
    def verdict(self) -> str:
        return self.main.evaluation.verdict

    @property
    def empty(self) -> bool:
        """No round and no session in the window: the report can only say "no data"."""
        return self.main.evidence.records == 0


def _evidence(
    store: ResultStore, since: datetime, until: datetime, filters: Filters
) -> tuple[Evidence, list[dict[str, Any]], list[dict[str, Any]]]:
    sessions = list(store.iter_sessions(since, until, filters))  # oldest first, then user
    # rounds_between is newest first; evidence is oldest first, ties by run id
    rounds = sorted(store.rounds_between(since, until, filters), key=_round_key)
    evidence = Evidence(
        sessions_csv=to_text(sessions, SESSION_FIELDS, "csv"),
        rounds_csv=to_text(rounds, tables.ROUND_FIELDS, "csv"),
        sessions=len(sessions),
        rounds=len(rounds),
    )
    return evidence, sessions, rounds


def _round_key(row: Mapping[str, Any]) -> tuple[str, str]:
    return str(row["started_at"]), str(row["run_id"])


def probes_seen(rounds: list[dict[str, Any]]) -> tuple[ProbeSeen, ...]:
    """Each (probe, target, profile) of ``rounds`` with its round count, sorted."""
    counts = Counter((str(r["probe"]), str(r["target"]), str(r["profile"])) for r in rounds)
    return tuple(ProbeSeen(*key, rounds=n) for key, n in sorted(counts.items()))


def align(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The whole one-minute buckets inside ``[since, until)``: since rounded up, until down.

    The SLO maths counts whole buckets of ``evaluation.BUCKET_S`` (epoch-aligned), so
    on whole minutes the evidence rows and the counted events are the same rows;
    shrinking, never growing, keeps the report from covering time it was not asked for.
    """
    width = timedelta(seconds=BUCKET_S)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + -((epoch - since) // width) * width  # ceil
    end = epoch + ((until - epoch) // width) * width  # floor
    if end <= start:
        raise ValueError(
            f"the window {since.isoformat()} to {until.isoformat()} holds no whole minute "
            "(reports count whole one-minute buckets)"
        )
    return start, end


def _period(
    store: ResultStore,
    settings: Settings,
    since: datetime,
    until: datetime,
    filters: Filters,
    evaluation: Evaluation | None = None,
) -> Period:
    """The window's evidence, judged (``evaluation``: already judged over the aligned window)."""
    since, until = align(since, until)
    if evaluation is None:
        evaluation = evaluate_window(store, settings, since=since, until=until, filters=filters)
    evidence, sessions, rounds = _evidence(store, since, until, filters)
    floor_ms = breaches.db_floor(settings.slos)  # only the timings that can breach
    timings = [] if floor_ms is None else store.timing_rows(since, until, filters, floor_ms)
    failures = failure_groups(store, sessions, rounds, settings.slos, timings)
    return Period(
        evaluation, evidence, failures, breaching_rounds(failures, rounds), probes_seen(rounds)
    )


def _matches(incident: Incident, filters: Filters) -> bool:
    s = incident.subject
    return all(f in (None, v) for f, v in zip(
        (filters.target, filters.probe, filters.runner), (s.target, s.probe, s.runner), strict=True
    ))  # fmt: skip


def build_report(
    store: ResultStore,
    settings: Settings,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    filters: Filters | None = None,
    baseline: tuple[datetime, datetime] | None = None,
) -> Report:
    """Judge ``[since, until)`` (and a baseline window) from the store and gather the evidence.

    Both windows are first shrunk to whole minutes (``align``). ``now`` is the
    "generated at" time; it changes nothing else.
    """
    filters = filters or Filters()
    pooled, locations = by_location(store, settings, *align(since, until), filters)
    main = _period(store, settings, since, until, filters, pooled)
    since, until = main.since, main.until
    before = None
    if baseline is not None:
        before = _period(store, settings, baseline[0], baseline[1], filters)
    notes = tuple(store.annotations_between(since, until, target=filters.target))
    return Report(
        generated_at=now,
        version=slawatch_version(),
        settings=settings,
        filters=filters,
        main=main,
        baseline=before,
        failures=main.failures,
        maintenance=tuple(a for a in notes if a.kind == "maintenance"),
        annotations=notes,
        series=read_series(store, since, until, filters),
        incidents=tuple(i for i in store.incidents_between(since, until) if _matches(i, filters)),
        locations=locations,
    )
