"""The dashboard's Reports page, run by Streamlit's AppTest against a real SQLite file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from probes.results import ResultStore
from tests.report.conftest import CONFIG, HOSTILE, failed_session, good_hour, round_, save, session

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"


@pytest.fixture
def loopback() -> Iterator[None]:
    """Serve on 127.0.0.1 (what ``--server.address`` sets): no login needed there."""
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield
    st_config.set_option("server.address", before)


@pytest.fixture
def page(
    store: ResultStore,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loopback: None,
) -> AppTest:
    """The page over a store whose last hour holds one failed session with a hostile user id."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    rounds = good_hour("r", start)
    at = rounds[1].started_at
    rounds[1] = round_("bad", at, (failed_session("bad", HOSTILE, at), session("bad", "u2", at)))
    save(store, rounds)
    config = tmp_path / "slawatch.toml"
    config.write_text(CONFIG, encoding="utf-8")
    # the dashboard reads its store and config from the words after `--`, as sys.argv[1:]
    monkeypatch.setattr(sys, "argv", [str(APP), "--db", db_url, "--config", str(config)])
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page("pages/reports.py")
    return at


def test_building_a_report_previews_the_verdict_and_offers_every_format(page: AppTest) -> None:
    page.run()
    assert not page.exception
    assert page.title[0].value == "Reports"
    page.button[0].click().run()
    assert not page.exception
    assert page.error[0].value.startswith("**Verdict: FAIL** — ")
    objectives = page.dataframe[0].value
    assert list(objectives["objective"]) == [
        "session-success",
        "event-completeness",
        "first-event-latency",
        "memory-growth",
        "auth-rejection",
    ]
    assert "breached" in set(objectives["status"])
    users = {cell for frame in page.dataframe[1:] for cell in frame.value.get("users", [])}
    assert HOSTILE in users  # shown as a table cell, never as markup
    labels = {b.proto.label for b in page.get("download_button")}
    assert labels == {"PDF", "HTML", "Markdown", "JSON", "CSV sessions", "CSV rounds"}
