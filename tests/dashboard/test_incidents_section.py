"""The Live page's incidents section, on a store whose incidents the real judging opened."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probes.alerting.service import Alerting
from probes.config import parse_settings
from probes.results import ResultStore

from .conftest import AppFactory, Seeded
from .test_pages import page_text, run

# One failed round opens an incident here: the seeded faults ran one round each.
CONFIG = "[alerts]\nmin_samples = 100000\nfailure_threshold = 1\n"


def test_live_shows_the_open_incidents_of_the_faulty_targets(
    app: AppFactory, seeded: Seeded, tmp_path: Path
) -> None:
    path = tmp_path / "faulty.db"
    shutil.copy(seeded.faulty_path, path)
    url = f"sqlite:///{path}"
    with ResultStore.open(url) as store:
        now = datetime.now(UTC)
        rows = store.rounds_between(now - timedelta(days=1), now + timedelta(minutes=1))
        alerts = Alerting(store, parse_settings(CONFIG))
        for row in sorted(rows, key=lambda r: r["started_at"]):
            r = store.round(row["run_id"])
            assert r is not None
            asyncio.run(alerts.judge(r))
        opened = store.open_incidents()  # the 1011 backend's and the cross-talk one's
    at = run(app(url, "pages/live.py"))
    text = page_text(at)
    assert "Incidents, last 7 days" in text
    assert "2 incident(s) open" in text
    (table,) = [d.value for d in at.dataframe if "incident_id" in d.value.columns]
    assert sorted(table["incident_id"]) == sorted(i.id for i in opened)
    assert list(table["state"]) == ["open", "open"]
    assert set(table["target"]) == {i.subject.target for i in opened}
    assert seeded.cross_talk_target in set(table["target"])
    assert list(table["opened_by"]) == ["failed rounds", "failed rounds"]


def test_live_says_when_there_was_no_incident(app: AppFactory, seeded: Seeded) -> None:
    text = page_text(run(app(seeded.clean, "pages/live.py")))
    assert "No incident in the last 7 days." in text
