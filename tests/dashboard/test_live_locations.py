"""The Live page's locations: a location x probe grid, and a dead runner named as down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from probes.records import RoundResult, RunnerBeat, SessionResult
from probes.results import ResultStore
from tests.dashboard.conftest import AppFactory
from tests.dashboard.test_pages import page_text, run


def a_round(run_id: str, runner: str, at: datetime, ok: bool) -> RoundResult:
    user = SessionResult(run_id, "default", "ws://a/ws", runner, "u1", "header", at,
                         outcome="ok" if ok else "failed")  # fmt: skip
    status = "passed" if ok else "failed"
    return RoundResult(run_id, "default", "ws://a/ws", runner, at, at, status, sessions=(user,))


def test_live_shows_each_location_and_names_the_runner_that_is_down(
    app: AppFactory, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    now = datetime.now(UTC)
    with ResultStore.open(url) as store:
        store.save_round(a_round("e1", "eu", now - timedelta(seconds=20), ok=True))
        store.save_round(a_round("u1", "us", now - timedelta(seconds=30), ok=False))
        for instance, runner, last in (("i1", "eu", now), ("i2", "us", now - timedelta(hours=1))):
            store.write_beat(RunnerBeat(instance, runner, "h", 1, False, (("default", 60.0),),
                                        5.0, now - timedelta(hours=2), last))  # fmt: skip
    at = run(app(url, "pages/live.py"))
    text = page_text(at)
    assert "Runner down:" in text and "us" in text.split("Runner down:")[1].splitlines()[0]
    [grid] = [d.value for d in at.dataframe if "default" in d.value.columns]
    assert grid.to_dict() == {"default": {"eu": "✅ passed", "us": "🛑 down"}}
