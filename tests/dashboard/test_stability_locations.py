"""The Stability page judges each objective per location: two runners, one failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from probes.records import RoundResult, SessionResult
from probes.results import ResultStore
from tests.dashboard.conftest import AppFactory
from tests.dashboard.test_pages import page_text, run


def a_round(run_id: str, runner: str, at: datetime, ok: bool) -> RoundResult:
    users = tuple(
        SessionResult(run_id, "default", "ws://a/ws", runner, f"u{n}", "header", at,
                      outcome="ok" if ok else "failed", reason=None if ok else "refused")
        for n in range(2)
    )  # fmt: skip
    status = "passed" if ok else "failed"
    return RoundResult(run_id, "default", "ws://a/ws", runner, at, at, status, sessions=users)


def two_locations(tmp_path: Path) -> str:
    """Three rounds of two users at "eu" (all good) and at "us" (every session refused)."""
    url = f"sqlite:///{tmp_path / 'results.db'}"
    now = datetime.now(UTC)
    with ResultStore.open(url) as store:
        for i in range(3):
            at = now - timedelta(minutes=10 * (i + 1))
            store.save_round(a_round(f"e{i}", "eu", at, ok=True))
            store.save_round(a_round(f"u{i}", "us", at, ok=False))
    return url


def test_stability_shows_each_objective_per_location(app: AppFactory, tmp_path: Path) -> None:
    at = run(app(two_locations(tmp_path), "pages/stability.py"))
    assert "Objectives by location" in page_text(at)
    [table] = [d.value for d in at.dataframe if "location" in d.value.columns]
    success = table[table["objective"] == "session-success"].set_index("location")
    assert success.loc["eu", ["status", "compliance", "good / valid"]].tolist() == [
        "✓ met", "100.00 %", "6 / 6",
    ]  # fmt: skip
    assert success.loc["us", ["status", "compliance", "good / valid"]].tolist() == [
        "✗ breached", "0.00 %", "0 / 6",
    ]  # fmt: skip
    pooled = at.dataframe[0].value.set_index("objective")
    assert pooled.loc["session-success", "good / valid"] == "6 / 12"


def test_one_runner_picked_has_no_location_breakdown(app: AppFactory, tmp_path: Path) -> None:
    at = run(app(two_locations(tmp_path), "pages/stability.py"))
    at = run(at.selectbox(key="runner").select("us"))
    assert "Objectives by location" not in page_text(at)
    assert not [d for d in at.dataframe if "location" in d.value.columns]
