"""An objective's ``aggregate`` over stored rounds of two locations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from probes.config import parse_settings
from probes.judging.evaluation import evaluate_window
from probes.records import RoundResult, SessionResult
from probes.results import ResultStore

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def a_round(run_id: str, runner: str, at: datetime, ok: bool) -> RoundResult:
    users = tuple(
        SessionResult(run_id, "chat", "ws://a/ws", runner, f"u{i}", "header", at,
                      outcome="ok" if ok else "failed")
        for i in range(2)
    )  # fmt: skip
    status = "passed" if ok else "failed"
    return RoundResult(run_id, "chat", "ws://a/ws", runner, at, at, status, sessions=users)


def test_pooled_any_all_and_quorum_judge_the_same_rounds_differently(store: ResultStore) -> None:
    store.save_round(a_round("e1", "eu", T0, ok=True))
    store.save_round(a_round("u1", "us", T0, ok=False))  # us is down in minute one
    store.save_round(a_round("e2", "eu", T0 + M, ok=True))
    store.save_round(a_round("u2", "us", T0 + M, ok=True))
    config = '[[probes]]\nname = "chat"\ntarget = "ws://a/ws"\n' + "".join(
        f'[[slo]]\nname = "{rule}"\nsli = "session_success"\nobjective = 99\nwindow = "2m"\n'
        f'aggregate = "{rule}"\n'
        for rule in ("pooled", "any", "all", "quorum:2", "quorum:1")
    )
    settings = parse_settings(config)
    evaluation = evaluate_window(store, settings, since=T0, until=T0 + 2 * M)
    got = {r.name: (r.good, r.valid, r.status) for r in evaluation.results}
    assert got == {
        "pooled": (6, 8, "breached"),  # sessions
        "any": (2, 2, "met"),  # slices
        "all": (1, 2, "breached"),
        "quorum:2": (2, 2, "met"),
        "quorum:1": (1, 2, "breached"),
    }
