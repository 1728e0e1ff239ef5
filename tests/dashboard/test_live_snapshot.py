"""The Live page from one read: the headline agrees with the lists; the drill-down follows
the newest failing (or breaching) round until a round is picked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import streamlit as st

from probes.records import RoundResult
from probes.results import ResultStore
from tests.dashboard.test_pages import page_text, run
from tests.report.conftest import failed_session, round_, session

from .conftest import AppFactory


def _store(tmp_path: Path, rounds: list[RoundResult]) -> str:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with ResultStore.open(url) as store:
        for r in rounds:
            store.save_round(r)
    return url


def _failed(run_id: str, at: datetime) -> RoundResult:
    return round_(run_id, at, (failed_session(run_id, "u1", at), session(run_id, "u2", at)))


def test_a_failed_newest_round_is_in_the_headline_while_objectives_are_met(
    app: AppFactory, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    good = [round_(f"good{i:03}", now - timedelta(minutes=200 - i)) for i in range(198)]
    url = _store(tmp_path, [*good, _failed("bad-newest", now - timedelta(seconds=30))])
    at = run(app(url))
    headline = [e.value for e in at.error]
    assert any(v.startswith("**Newest round (") and "failed:**" in v for v in headline), headline
    assert not at.success or "All" not in str(at.success[0].value)  # never "all met" in green
    rounds = next(d.value for d in at.dataframe if "why" in d.value.columns)
    assert rounds.iloc[0]["state"] == "failed"  # the table and the headline: one read
    assert rounds.iloc[0]["run_id"] == "bad-newest"
    assert "None" not in rounds.astype(str).to_string()


def test_the_drill_down_follows_the_newest_failing_round_until_one_is_picked(
    app: AppFactory, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    rounds = [
        _failed("bad-older", now - timedelta(minutes=5)),
        round_("leaky-newer", now - timedelta(minutes=3), growth_mb=97.8),  # breaching
        round_("good-newest", now - timedelta(minutes=1)),
    ]
    url = _store(tmp_path, rounds)
    at = run(app(url))
    picker = at.selectbox(key="round")
    assert picker.value == "leaky-newer"  # newest failing or breaching, not the newest round
    text = page_text(at)
    assert "**breaching**" in text
    assert "(passed on the protocol)" in text and r"memory\-growth\: 97\.8 MB" in text
    at = run(picker.select("good-newest"))  # picked: pinned
    with ResultStore.open(url) as store:
        store.save_round(_failed("bad-newest", now))
    at = run(at)
    assert at.selectbox(key="round").value == "good-newest"  # stays while pinned
    st.cache_data.clear()  # the next refresh's read (the snapshot is cached for one refresh)
    at = run(at.button(key="follow").click())
    assert at.selectbox(key="round").value == "bad-newest"  # following again: the newest failing
