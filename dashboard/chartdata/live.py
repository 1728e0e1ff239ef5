"""One Live refresh: objectives, latest rounds and failing sessions, all read at one ``until``.

The Live page draws its headline, tiles and lists from one ``LiveSnapshot``,
so they cannot disagree: a round in the list is judged in the headline too.
Rounds and sessions carry their state (``probes.judging.breaches``): a round
that passed on the protocol but broke a threshold objective is ``breaching``
and listed with the failing ones, with the objective and how far over.
No Streamlit import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dashboard.chartdata import rounds as round_rows
from dashboard.chartdata.objectives import Objectives, judge
from probes.config import Settings
from probes.judging import breaches
from probes.judging.breaches import Breach
from probes.judging.texts import without_reason
from probes.records import Filters
from probes.results import ResultStore

FAILURES_WINDOW = timedelta(hours=1)
STATE_ORDER = {"failed": 0, "error": 1, "breaching": 2, "skipped": 3, "passed": 4}
PROBLEM_STATES = ("failed", "error", "breaching")


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """Everything one Live refresh shows, read at ``until``."""

    until: datetime
    objectives: Objectives
    rounds: pd.DataFrame  # latest rounds, failing first, with "state" and "why"
    failing: pd.DataFrame  # failing and breaching sessions of the last hour, newest first

    @property
    def newest(self) -> dict[str, Any] | None:
        """The most recently started round (whatever its state)."""
        if self.rounds.empty:
            return None
        return dict(self.rounds.sort_values("started_at").iloc[-1])

    @property
    def newest_problem(self) -> str | None:
        """The run id of the newest failed, errored or breaching round, if any."""
        bad = self.rounds[self.rounds["state"].isin(PROBLEM_STATES)]
        if bad.empty:
            return None
        return str(bad.sort_values("started_at").iloc[-1]["run_id"])


def session_breaches(
    store: ResultStore, settings: Settings, since: datetime, until: datetime, filters: Filters
) -> tuple[list[dict[str, Any]], dict[str, list[Breach]]]:
    """Sessions over a latency objective in the window (rows), and their breaches by round."""
    floors = breaches.latency_floors(settings.slos)  # only the sessions that can breach
    by_round: dict[str, list[Breach]] = defaultdict(list)
    rows = []
    for row in store.slow_sessions(since, until, filters, over_ms=floors):
        found = breaches.over_threshold(breaches.of_session_row(row, settings.slos))
        if found:  # slow_sessions reads only sessions that passed
            by_round[row["run_id"]] += found
            rows.append({**row, "breaches": found})
    return rows, by_round


def _round_breaches(
    store: ResultStore,
    settings: Settings,
    rounds: Iterable[tuple[str, str, float | None]],
    since: datetime,
    until: datetime,
    filters: Filters,
) -> dict[str, list[Breach]]:
    """The rounds with breaches of their own (memory growth, DB timings), and those; a round
    of ``rounds`` ((run_id, probe, memory growth or None)) without any is left out."""
    timings: dict[str, list[tuple[str, bool, float | None, float | None]]] = defaultdict(list)
    floor_ms = breaches.db_floor(settings.slos)
    rows = [] if floor_ms is None else store.timing_rows(since, until, filters, floor_ms)
    for t in rows:  # only the timings that can breach: a year of every one took seconds
        timings[t["run_id"]].append((t["operation"], t["ok"], t["server_ms"], t["client_ms"]))
    limits = [s.threshold_mb for s in settings.slos if s.sli == "memory_growth"]
    floor = min((mb for mb in limits if mb is not None), default=None)
    out: dict[str, list[Breach]] = {}
    for run_id, probe, growth in rounds:
        if str(run_id) not in timings and (floor is None or growth is None or growth <= floor):
            continue  # no DB timing, no growth over any memory objective: nothing to judge
        found = breaches.over_threshold(breaches.round_breaches(
            settings.slos,
            probe=str(probe),
            memory_growth_mb=None if growth is None or pd.isna(growth) else float(growth),
            timings=timings.get(str(run_id), ()),
        ))  # fmt: skip
        if found:
            out[str(run_id)] = found
    return out


def _figures(frame: pd.DataFrame) -> list[tuple[str, str, float | None]]:
    """(run_id, probe, memory growth) of each round row of ``frame``."""
    if frame.empty:
        return []
    columns = frame[["run_id", "probe", "memory_growth_mb"]]
    return list(columns.itertuples(index=False, name=None))


def _with_states(
    frame: pd.DataFrame, by_round: dict[str, list[Breach]], sessions: dict[str, list[Breach]]
) -> pd.DataFrame:
    """Add ``state`` (``breaches.round_state``) and the breaches to ``why``; failing first."""
    if frame.empty:
        return frame.assign(state=pd.Series(dtype=str), why=pd.Series(dtype=str))
    states, whys = [], []
    for r in frame.to_dict("records"):
        found = by_round.get(str(r["run_id"]), []) + sessions.get(str(r["run_id"]), [])
        states.append(breaches.round_state(str(r["status"]), found))
        parts = [str(r.get("failures") or "")]
        if found:
            parts.append("breaching " + breaches.summary(found))
        whys.append("; ".join(p for p in parts if p) or "—")
    frame = frame.assign(state=states, why=whys)
    order = frame["state"].map(STATE_ORDER).fillna(9)
    frame = frame.assign(_order=order)
    frame = frame.sort_values(["_order", "started_at"], ascending=[True, False])
    return frame.drop(columns="_order").reset_index(drop=True)


def live_snapshot(
    store: ResultStore, settings: Settings, until: datetime, filters: Filters
) -> LiveSnapshot:
    """The objectives (each over its own window), the latest rounds and the last hour's
    failing and breaching sessions, all ending at ``until``."""
    objectives = judge(store, settings, until - FAILURES_WINDOW, until, filters, True)
    frame = round_rows.latest_rounds(store, until, filters)
    oldest = (
        until - FAILURES_WINDOW
        if frame.empty
        else min(frame["started_at"].min().to_pydatetime(), until - FAILURES_WINDOW)
    )
    slow, by_round_sessions = session_breaches(store, settings, oldest, until, filters)
    rounds = _with_states(
        frame,
        _round_breaches(store, settings, _figures(frame), oldest, until, filters),
        by_round_sessions,
    )
    failing = round_rows.failing_sessions(store, until - FAILURES_WINDOW, until, filters)
    recent = [s for s in slow if s["started_at"] >= until - FAILURES_WINDOW]
    failing = _with_breaching(failing, recent)
    return LiveSnapshot(until, objectives, rounds, failing)


def _with_breaching(failing: pd.DataFrame, slow: list[dict[str, Any]]) -> pd.DataFrame:
    """Failed sessions (state ``failed``) and breaching ones (state ``breaching``), newest first."""
    failing = failing.assign(state="failed")
    if not slow:
        return failing
    extra = pd.DataFrame(
        [
            {
                "started_at": s["started_at"], "user_id": s["user_id"], "state": "breaching",
                "auth_mode": s["auth_mode"],
                "reason": "", "close": "", "missing_events": "",
                "error": "; ".join(b.text for b in s["breaches"]),
                "probe": s["probe"], "target": s["target"], "runner": s["runner"],
                "run_id": s["run_id"],
            }
            for s in slow
        ]
    )  # fmt: skip
    extra["started_at"] = pd.to_datetime(extra["started_at"], utc=True)
    both = pd.concat([failing, extra], ignore_index=True) if not failing.empty else extra
    return both.sort_values("started_at", ascending=False).reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class RoundBreaches:
    """One round judged against the objectives: its state, its breaches, its sessions' states."""

    state: str  # breaches.round_state
    texts: list[str]  # one line per breach: "first-event-latency: probe-user-1 806.0 ms > ..."
    objectives: list[str]  # the objectives breached, each once
    sessions: pd.DataFrame  # the drill-down's sessions with "state", "breaches" and "detail"


def round_breaches(store: ResultStore, settings: Settings, run_id: str) -> RoundBreaches | None:
    """``run_id`` judged by ``probes.judging.breaches``; None when it is not stored."""
    record = store.round(run_id)
    detail = round_rows.round_detail(store, run_id)
    if record is None or detail is None:
        return None
    found = breaches.over_threshold(breaches.of_round(record, settings.slos))
    by_user: dict[str, list[Breach]] = defaultdict(list)
    for b in found:
        by_user[b.subject].append(b)
    sessions = detail.sessions.copy()
    users = sessions["user_id"].astype(str).tolist()
    sessions["state"] = [
        breaches.session_state(str(o), by_user.get(u, []))
        for u, o in zip(users, sessions["outcome"], strict=True)
    ]
    sessions["breaches"] = ["; ".join(b.text for b in by_user.get(u, [])) for u in users]
    sessions["detail"] = [
        without_reason(str(r or ""), str(e or ""))
        for r, e in zip(sessions["reason"], sessions["error"], strict=True)
    ]
    texts = [
        b.text if b.subject == "round" else f"{b.objective}: {b.subject} {b.detail}" for b in found
    ]
    return RoundBreaches(
        state=breaches.round_state(record.status, found),
        texts=texts,
        objectives=list(dict.fromkeys(b.objective for b in found)),
        sessions=sessions,
    )


def breaching_rounds(
    store: ResultStore, settings: Settings, since: datetime, until: datetime, filters: Filters
) -> int:
    """Rounds in the range that passed on the protocol yet breached a threshold objective."""
    passed = store.round_figures(since, until, filters, status="passed")
    if not passed:
        return 0
    own = _round_breaches(store, settings, passed, since, until, filters)  # passed ones only
    _, of_sessions = session_breaches(store, settings, since, until, filters)
    return len(own.keys() | ({rid for rid, _, _ in passed} & of_sessions.keys()))
