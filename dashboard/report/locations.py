"""The report's objectives broken down by location (runner label).

Each location is judged alone (``chartdata.locations.by_location``, what the
Stability page shows too), so its coverage counts its own scheduled slots: a
location that was down shows its gap as low coverage or "no data", even when
the other locations carried the pooled figure.
"""

from __future__ import annotations

from dashboard import format as fmt
from dashboard.chartdata.locations import Location, by_location

__all__ = ["EXPLAINED", "HEADER", "Location", "by_location", "rows"]

HEADER = ("objective", "location", "value", "status", "samples", "coverage")
EXPLAINED = (
    "Each location (runner label) judged alone; its coverage counts its own scheduled "
    "slots, so a location that was down shows its gap here even when others covered it."
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
