"""SLI buckets in; compliance, error budget, burn-rate alerts and the verdict out.

Pure: no clock, database or logging; the window (``since``/``until``) is always
passed in. The model is the SRE workbook's: the SLI is good / valid events;
the error budget is the share of valid events the objective allows to be bad;
the burn rate is the observed bad share divided by that allowed share, so a
burn rate of 1 spends exactly the whole budget over the window.

Ratios are computed exactly (``fractions.Fraction``, with objectives and
factors read from their decimal text), so 999 good of 1000 meets 99.9 %
exactly and a burn rate of exactly 14.4 fires a 14.4x alert.

Representations:

- With no valid events in the window, ``value``, ``budget_left`` and
  ``burn_rate`` are None and the status is "no data" (never "met").
- ``budget_left == 1 - burn_rate`` always: 1.0 untouched, 0.0 spent,
  negative overspent (-1.0 = spent twice). A 100 % objective allows no bad
  event: with none, the burn rate is 0.0 and the budget 1.0; with any, the
  burn rate is ``math.inf`` and the budget ``-math.inf`` (infinitely
  overspent). ``json_number`` writes these as the strings "Infinity" and
  "-Infinity", which ``float()`` and JavaScript's ``Number()`` both read back.
- A bucket belongs to a window when its start is in ``[since, until)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

from probes.config import DAY, AlertSettings, SloSettings
from probes.records import Annotation, SliBucket

Status = Literal["met", "breached", "no data"]
AlertState = Literal["firing", "ok", "insufficient samples"]
Severity = Literal["page", "ticket"]
Verdict = Literal["PASS", "FAIL", "INSUFFICIENT DATA"]

HOUR = 3600.0
MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class BurnRateRule:
    """Alert when the windows ending at ``until`` both burn at ``factor`` x or more."""

    severity: Severity
    long_window_s: float
    short_window_s: float
    factor: float


# The SRE workbook's multiwindow, multi-burn-rate alerts ("Alerting on SLOs"),
# sized for a 30-day objective: 14.4x for 1 h spends 2 % of the budget, 6x for
# 6 h spends 5 %, 1x for 3 d spends 10 %.
MULTIWINDOW_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page", HOUR, 5 * MINUTE, 14.4),
    BurnRateRule("page", 6 * HOUR, 30 * MINUTE, 6.0),
    BurnRateRule("ticket", 3 * DAY, 6 * HOUR, 1.0),
)


@dataclass(frozen=True, slots=True)
class BurnRateAlert:
    """One rule's state: burn rates and valid events of both windows."""

    severity: Severity
    long_window_s: float
    short_window_s: float
    factor: float
    long_burn: float | None
    short_burn: float | None
    long_valid: int
    short_valid: int
    state: AlertState


@dataclass(frozen=True, slots=True)
class SloResult:
    """One objective judged over ``[since, until)``; percentages are 0-100, coverage 0-1."""

    name: str
    sli: str
    objective: float
    since: datetime
    until: datetime
    value: float | None
    status: Status
    good: int
    valid: int
    budget_left: float | None
    burn_rate: float | None
    coverage: float
    excluded_buckets: int  # buckets of the window dropped for maintenance
    alerts: tuple[BurnRateAlert, ...]


def exclude_maintenance(
    buckets: Iterable[SliBucket],
    maintenance: Iterable[Annotation],
    *,
    width_s: float,
    now: datetime,
) -> tuple[SliBucket, ...]:
    """Drop every bucket ``[start, start + width)`` that overlaps a maintenance window.

    The granularity is one bucket: a window touching any part of a bucket drops
    all of it, so events just outside each edge, in the same bucket, go too.
    A window is ``[start, end)``, an open one (``end`` None) runs to ``now``;
    one that ends at or before its start covers nothing. Annotations of other
    kinds are ignored; filtering by target is the caller's.
    """
    width = _width(width_s)
    spans = []
    for note in maintenance:
        end = now if note.end is None else note.end
        if note.kind == "maintenance" and note.start < end:
            spans.append((note.start, end))
    return tuple(
        b for b in buckets if not any(s < b.start + width and b.start < e for s, e in spans)
    )


def evaluate(
    slo: SloSettings,
    buckets: Iterable[SliBucket],
    *,
    since: datetime,
    until: datetime,
    width_s: float,
    maintenance: Sequence[Annotation],
    coverage: float,
    alerts: AlertSettings,
    rules: Sequence[BurnRateRule] = MULTIWINDOW_RULES,
) -> SloResult:
    """Compliance, error budget and burn rate over ``[since, until)``, plus the alerts.

    The window is the caller's choice (usually ``until - slo.window_s``); the
    budget is the one that window allows.
    Maintenance is excluded first, with open windows running to ``until`` (later
    buckets are never looked at, so this is the same as running to the real
    now). Alert windows end at ``until`` whatever ``since`` is: pass buckets
    reaching back the longest rule window (3 days by default).
    """
    if until < since:
        raise ValueError(f"since {since.isoformat()} is after until {until.isoformat()}")
    every = tuple(buckets)
    for b in every:
        if b.valid < 0 or b.good < 0 or b.good > b.valid:
            raise ValueError(
                f"bucket at {b.start.isoformat()}: good {b.good} and valid {b.valid} "
                "must satisfy 0 <= good <= valid"
            )
    kept = exclude_maintenance(every, maintenance, width_s=width_s, now=until)
    allowed = _allowed_bad(slo.objective)
    good, valid = _counts(kept, since, until)
    burn = _burn(good, valid, allowed)
    if valid == 0:
        status: Status = "no data"
    else:
        status = "met" if Fraction(valid - good, valid) <= allowed else "breached"
    dropped = _count_in(every, since, until) - _count_in(kept, since, until)
    return SloResult(
        name=slo.name,
        sli=slo.sli,
        objective=slo.objective,
        since=since,
        until=until,
        value=None if valid == 0 else float(Fraction(100 * good, valid)),
        status=status,
        good=good,
        valid=valid,
        budget_left=None if burn is None else float(1 - burn),
        burn_rate=None if burn is None else float(burn),
        coverage=coverage,
        excluded_buckets=dropped,
        alerts=tuple(_alert(r, kept, until, allowed, alerts.min_samples) for r in rules),
    )


def coverage(rounds_with_data: int, *, since: datetime, until: datetime, every_s: float) -> float:
    """The share (0-1) of the rounds scheduled in ``[since, until)`` that have data.

    Expected rounds are ``floor(window / every)``, at least 1; the share is
    capped at 1.0 (extra manual rounds do not make up for missing ones
    elsewhere, but cannot push it above full). The caller counts the rounds
    "with data": passed and failed ones, not skipped or errored ones.
    """
    if rounds_with_data < 0:
        raise ValueError(f"rounds_with_data must not be negative, got {rounds_with_data}")
    if until < since:
        raise ValueError(f"since {since.isoformat()} is after until {until.isoformat()}")
    expected = max(1, (until - since) // _width(every_s, "every_s"))
    return min(1.0, rounds_with_data / expected)


def overall_verdict(results: Sequence[SloResult], min_coverage_percent: float) -> Verdict:
    """FAIL if any objective is breached; PASS if all are met with enough coverage.

    Anything else (no objectives, an objective with no data, coverage below
    the minimum) is INSUFFICIENT DATA: a PASS needs evidence.
    """
    return _judge(results, min_coverage_percent)[0]


def verdict_reason(results: Sequence[SloResult], min_coverage_percent: float) -> str:
    """One line saying why ``overall_verdict`` is what it is, in figures only.

    Percentages are rounded down, so a breached value never prints as its objective.
    """
    return _judge(results, min_coverage_percent)[1]


def json_number(x: float | None) -> float | str | None:
    """A float JSON can carry: infinities become "Infinity"/"-Infinity", NaN None."""
    if x is None or math.isnan(x):
        return None
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def result_to_json(result: SloResult) -> dict[str, Any]:
    """``result`` as a JSON-safe dict: ISO 8601 times, numbers through ``json_number``."""
    return {
        "name": result.name,
        "sli": result.sli,
        "objective": result.objective,
        "since": result.since.isoformat(),
        "until": result.until.isoformat(),
        "value": json_number(result.value),
        "status": result.status,
        "good": result.good,
        "valid": result.valid,
        "budget_left": json_number(result.budget_left),
        "burn_rate": json_number(result.burn_rate),
        "coverage": json_number(result.coverage),
        "excluded_buckets": result.excluded_buckets,
        "alerts": [
            {
                "severity": a.severity,
                "long_window_s": a.long_window_s,
                "short_window_s": a.short_window_s,
                "factor": a.factor,
                "long_burn": json_number(a.long_burn),
                "short_burn": json_number(a.short_burn),
                "long_valid": a.long_valid,
                "short_valid": a.short_valid,
                "state": a.state,
            }
            for a in result.alerts
        ],
    }


# --- internals -------------------------------------------------------------------


def _width(seconds: float, name: str = "width_s") -> timedelta:
    if not seconds > 0 or timedelta(seconds=seconds) <= timedelta(0):
        raise ValueError(f"{name} must be positive, got {seconds!r}")
    return timedelta(seconds=seconds)


def _exact(x: float) -> Fraction:
    """The decimal the number was written as: 99.9 -> 999/10, not the nearest binary float."""
    return Fraction(repr(x))


def _allowed_bad(objective: float) -> Fraction:
    return 1 - _exact(objective) / 100


def _counts(buckets: Iterable[SliBucket], since: datetime, until: datetime) -> tuple[int, int]:
    good = valid = 0
    for b in buckets:
        if since <= b.start < until:
            good += b.good
            valid += b.valid
    return good, valid


def _count_in(buckets: Iterable[SliBucket], since: datetime, until: datetime) -> int:
    return sum(1 for b in buckets if since <= b.start < until)


def _burn(good: int, valid: int, allowed: Fraction) -> Fraction | float | None:
    """Bad share / allowed share; ``math.inf`` when nothing is allowed and something was bad."""
    if valid == 0:
        return None
    bad = Fraction(valid - good, valid)
    if allowed == 0:
        return math.inf if bad else Fraction(0)
    return bad / allowed


def _alert(
    rule: BurnRateRule,
    buckets: Sequence[SliBucket],
    until: datetime,
    allowed: Fraction,
    min_samples: int,
) -> BurnRateAlert:
    long_good, long_valid = _counts(buckets, until - timedelta(seconds=rule.long_window_s), until)
    short_good, short_valid = _counts(
        buckets, until - timedelta(seconds=rule.short_window_s), until
    )
    long_burn = _burn(long_good, long_valid, allowed)
    short_burn = _burn(short_good, short_valid, allowed)
    state: AlertState
    if long_burn is None or short_burn is None or min(long_valid, short_valid) < min_samples:
        state = "insufficient samples"
    elif long_burn >= _exact(rule.factor) and short_burn >= _exact(rule.factor):
        state = "firing"
    else:
        state = "ok"
    return BurnRateAlert(
        severity=rule.severity,
        long_window_s=rule.long_window_s,
        short_window_s=rule.short_window_s,
        factor=rule.factor,
        long_burn=None if long_burn is None else float(long_burn),
        short_burn=None if short_burn is None else float(short_burn),
        long_valid=long_valid,
        short_valid=short_valid,
        state=state,
    )


def _share(x: float) -> Fraction:
    """A share given as a float, back as the ratio of counts it came from (0.9 -> 9/10)."""
    return Fraction(x).limit_denominator(10**9)


def _percent(share: Fraction) -> str:
    """``share`` as a percentage rounded down to two decimals: 0.99895 -> "99.89"."""
    hundredths = math.floor(share * 10_000)
    return f"{hundredths / 100:.2f}".rstrip("0").rstrip(".")


def _decimal(x: float) -> str:
    """``x`` as written, without a trailing ".0": 99.9 -> "99.9", 100.0 -> "100"."""
    text = repr(float(x))
    return text.removesuffix(".0")


def _objectives(n: int) -> str:
    return f"{n} objective" if n == 1 else f"{n} objectives"


def _judge(results: Sequence[SloResult], min_coverage_percent: float) -> tuple[Verdict, str]:
    if not results:
        return "INSUFFICIENT DATA", "no objectives were evaluated"
    minimum = _exact(min_coverage_percent) / 100
    breached = [r for r in results if r.status == "breached"]
    if breached:
        details = "; ".join(
            f"{r.name} {_percent(Fraction(r.good, r.valid))}% good of {r.valid} "
            f"(objective {_decimal(r.objective)}%)"
            for r in breached
        )
        return "FAIL", f"{len(breached)} of {_objectives(len(results))} breached: {details}"
    no_data = [r.name for r in results if r.status == "no data"]
    thin = [r for r in results if r.status == "met" and _share(r.coverage) < minimum]
    if no_data or thin:
        parts = []
        if no_data:
            parts.append(f"no data for {', '.join(no_data)}")
        if thin:
            names = ", ".join(f"{r.name} ({_percent(_share(r.coverage))}%)" for r in thin)
            parts.append(f"coverage below {_decimal(min_coverage_percent)}% for {names}")
        return "INSUFFICIENT DATA", "; ".join(parts)
    lowest = min(_share(r.coverage) for r in results)
    return "PASS", (
        f"all {_objectives(len(results))} met; lowest coverage {_percent(lowest)}% "
        f"(minimum {_decimal(min_coverage_percent)}%)"
    )
