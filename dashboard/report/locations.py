"""The report's objectives broken down by location (runner label).

Each location is judged alone (``evaluate_window`` with that runner as the
filter), so its coverage counts its own scheduled slots: a location that was
down shows its gap as low coverage or "no data", even when the other
locations carried the pooled figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dashboard import format as fmt
from probes.config import Settings
from probes.judging.evaluation import Evaluation, evaluate_window
from probes.records import Filters
from probes.results import ResultStore

HEADER = ("objective", "location", "value", "status", "samples", "coverage")
EXPLAINED = (
    "Each location (runner label) judged alone; its coverage counts its own scheduled "
    "slots, so a location that was down shows its gap here even when others covered it."
)


@dataclass(frozen=True, slots=True)
class Location:
    """One runner label's own evaluation of the report's window."""

    runner: str
    evaluation: Evaluation


def by_location(
    store: ResultStore, settings: Settings, since: datetime, until: datetime, filters: Filters
) -> tuple[Location, ...]:
    """Every location of the stored rounds and runners (or the filter's one), judged alone."""
    if filters.runner is not None:
        runners = [filters.runner]
    else:
        known = set(store.labels()["runners"]) | {b.runner for b in store.runner_beats()}
        runners = sorted(known)
    return tuple(
        Location(
            runner,
            evaluate_window(
                store,
                settings,
                since=since,
                until=until,
                filters=Filters(filters.target, filters.probe, runner, filters.run_ids),
            ),
        )
        for runner in runners
    )


def rows(locations: tuple[Location, ...]) -> list[list[str]]:
    """Table rows, objective by objective, each location under it."""
    out = []
    names = [r.name for r in locations[0].evaluation.results] if locations else []
    for i, name in enumerate(names):
        for loc in locations:
            r = loc.evaluation.results[i]
            out.append([name, loc.runner, fmt.percent(r.value), r.status, str(r.valid),
                        fmt.percent(100 * r.coverage, 1)])  # fmt: skip
    return out
