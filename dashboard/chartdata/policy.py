"""The two choices every chart makes: how wide a time bucket is, and which threshold it draws.

One policy for the pages and the reports, so a chart of the same range with
the same filters draws the same points and the same dashed line wherever it
is shown. Pure functions of the range and the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from probes.config import Settings, Sli, SloSettings

# The smallest of these widths giving at most MAX_POINTS points over the range.
BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 4 * 3600, 6 * 3600, 12 * 3600, 86400)
MAX_POINTS = 200
# The ranges the Stability and Reports pages offer; beyond the raw retention
# they read the rollups, histograms and SLI cache.
RANGES = {
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}


def bucket_for(since: datetime, until: datetime, max_points: int = MAX_POINTS) -> int:
    """The smallest bucket width (s) giving at most ``max_points`` points over the range."""
    span = max((until - since).total_seconds(), 1.0)
    return next((b for b in BUCKETS_S if span / b <= max_points), BUCKETS_S[-1])


def bucket_text(bucket_s: int) -> str:
    """``per 5 min`` or ``per 3 h``: how a chart title names its bucket."""
    return f"per {bucket_s // 60} min" if bucket_s < 3600 else f"per {bucket_s // 3600} h"


def objective_for(
    settings: Settings, sli: Sli, probe: str | None, operation: str | None = None
) -> SloSettings | None:
    """The first configured objective on ``sli`` that applies to the data under ``probe``.

    An objective scoped to a probe applies only when the data is filtered to that
    probe; with no probe filter (all probes' data) only unscoped objectives apply,
    so a chart never draws a line that judges other records than the ones drawn.
    """
    return next(
        (
            o
            for o in settings.slos
            if o.sli == sli and applies(o, probe) and o.operation == operation
        ),
        None,
    )


def applies(objective: SloSettings, probe: str | None) -> bool:
    """Whether ``objective`` judges the records of data filtered to ``probe``."""
    return objective.probe is None or objective.probe == probe


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The objective lines of the range charts under one probe filter (None: no line)."""

    first_event_ms: float | None = None
    completion_ms: float | None = None
    memory_mb: float | None = None
    completeness: float | None = None  # percent of sessions complete
    db_ms: dict[str, float] = field(default_factory=dict)  # operation -> ms


def thresholds(settings: Settings, probe: str | None) -> Thresholds:
    """Every chart's objective line for data filtered to ``probe`` (``objective_for``)."""
    first = objective_for(settings, "first_event_latency", probe)
    done = objective_for(settings, "completion_latency", probe)
    grow = objective_for(settings, "memory_growth", probe)
    complete = objective_for(settings, "event_completeness", probe)
    db: dict[str, float] = {}
    for o in settings.slos:
        if (
            o.sli == "db_latency"
            and o.operation
            and o.threshold_ms is not None
            and applies(o, probe)
        ):
            db.setdefault(o.operation, o.threshold_ms)  # the first, as objective_for picks
    return Thresholds(
        first_event_ms=first.threshold_ms if first else None,
        completion_ms=done.threshold_ms if done else None,
        memory_mb=grow.threshold_mb if grow else None,
        completeness=complete.objective if complete else None,
        db_ms=db,
    )
