"""Every page under AppTest: on no data, and on stores filled by real probe rounds."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from probes.results import ResultStore
from tests.cli.conftest import RELAXED

from .conftest import PAGES, AppFactory, Seeded


def page_text(at: AppTest) -> str:
    """Everything the page wrote as text, one element per line."""
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "error",
        "warning",
        "success",
        "info",
    ):
        parts += [str(element.value) for element in getattr(at, kind)]
    return "\n".join(parts)


def tile(at: AppTest, name: str) -> str:
    """The headline of the objective tile called ``name`` (badge + name)."""
    escaped = name.replace("-", "\\-")
    found = [m.value for m in at.markdown if "-badge[" in m.value and f"**{escaped}**" in m.value]
    assert len(found) == 1, f"no single tile for {name}: {found}"
    return str(found[0])


def run(at: AppTest | Any) -> AppTest:
    """Run the app (or the app a widget belongs to) and insist that nothing raised."""
    done: AppTest = at.run()
    assert not done.exception, [e.value for e in done.exception]
    return done


@pytest.mark.parametrize("page", PAGES)
def test_a_missing_database_shows_no_data_yet_and_is_not_created(
    app: AppFactory, tmp_path: Path, page: str
) -> None:
    path = tmp_path / "nowhere" / "slawatch.db"
    at = run(app(f"sqlite:///{path}", page))
    text = page_text(at)
    if page == "pages/settings.py":  # the settings in force need no store: still all shown
        objectives = at.dataframe[0].value
        assert "session-success" in set(objectives["name"])
        assert f"sqlite:///{path}" in text  # which store it would read
    else:
        assert "No data yet" in text
        assert "slawatch up" in text
        assert not at.dataframe and not at.get("plotly_chart")
        assert not at.button, "nothing to build a report from"
    assert not path.exists()


def test_an_empty_store_shows_no_data_yet_on_live_and_stability(
    app: AppFactory, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    ResultStore.open(url).close()
    for page in ("pages/live.py", "pages/stability.py"):
        at = run(app(url, page))
        assert "No data yet" in page_text(at)
        assert not at.get("plotly_chart")


def test_live_isolation_tile_reads_breached_after_cross_talk(
    app: AppFactory, seeded: Seeded
) -> None:
    at = run(app(seeded.faulty))
    assert "breached" in tile(at, "isolation")
    assert "breached" in tile(at, "session-success")
    assert "met" in tile(at, "first-event-latency")
    assert "objectives breached" in at.error[0].value


def test_live_isolation_tile_reads_met_on_a_clean_run(
    app: AppFactory, seeded: Seeded, tmp_path: Path
) -> None:
    # thresholds no loaded test machine misses: this is about a clean run, not its speed
    config = tmp_path / "relaxed.toml"
    config.write_text(RELAXED)
    at = run(app(seeded.clean, config=config))
    assert "met" in tile(at, "isolation")
    at = run(at)  # a refresh redraws the tiles in place, never twice
    assert "met" in tile(at, "isolation")
    assert "met" in tile(at, "session-success")
    assert "No session failed or breached an objective in the last hour" in page_text(at)
    assert "Every session, the bad-token check and the database check passed" in page_text(at)


def test_live_names_the_failing_users_and_why_first(app: AppFactory, seeded: Seeded) -> None:
    at = run(app(seeded.faulty))
    failing = at.dataframe[0].value
    assert set(failing["reason"]) == {"isolation_breach", "closed_abnormally"}
    assert "1011 internal error" in set(failing["close"])
    # the drill-down opens on the newest failing round: the cross-talk one
    summary = next(e.value for e in at.error if "sessions failed" in e.value)
    assert "3 of 3 sessions failed" in summary
    assert "probe\\-user\\-0" in summary
    assert "isolation\\_breach" in summary
    assert at.get("plotly_chart"), "the event timeline is drawn"


def test_drill_down_shows_the_round_picked_with_its_close_code_and_missing_events(
    app: AppFactory, seeded: Seeded
) -> None:
    at = run(app(seeded.faulty))
    picker = at.selectbox(key="round")
    crashed = next(o for o in picker.options if "closed_abnormally" in o)
    at = run(picker.select_index(picker.options.index(crashed)))
    summary = next(e.value for e in at.error if "sessions failed" in e.value)
    assert "1011 internal error" in summary
    assert "missing" in summary
    sessions = at.dataframe[-2].value  # the sessions table, above the DB check
    assert set(sessions["close"]) == {"1011 internal error"}


def test_stability_shows_the_verdict_objectives_and_every_chart(
    app: AppFactory, seeded: Seeded
) -> None:
    at = run(app(seeded.faulty, "pages/stability.py"))
    assert at.error[0].value.startswith("**FAIL**")
    table = at.dataframe[0].value
    statuses = dict(zip(table["objective"], table["status"], strict=True))
    assert statuses["isolation"] == "✗ breached"
    assert statuses["first-event-latency"] == "✓ met"
    # budget, two latencies, memory, completeness, close codes, DB timings
    assert len(at.get("plotly_chart")) == 7


def test_stability_filters_by_target_and_range(app: AppFactory, seeded: Seeded) -> None:
    at = run(app(seeded.faulty, "pages/stability.py"))
    at = run(at.selectbox(key="target").select(seeded.cross_talk_target))
    statuses = dict(
        zip(at.dataframe[0].value["objective"], at.dataframe[0].value["status"], strict=True)
    )
    assert statuses["isolation"] == "✗ breached"
    assert statuses["no-internal-errors"] == "✓ met"  # the 1011 round was another target
    at = run(at.segmented_control(key="range").set_value("1h"))
    assert "the last 1h" in at.error[0].value
    at = run(at.segmented_control(key="range").set_value("custom"))
    assert "\\(UTC\\)" in at.error[0].value


def test_stability_range_comes_from_the_url(app: AppFactory, seeded: Seeded) -> None:
    at = app(seeded.faulty, "pages/stability.py")
    at.query_params["range"] = "7d"
    at = run(at)
    assert "over the last 7d" in at.error[0].value


def test_stability_form_adds_a_deploy_marker_through_the_store(
    app: AppFactory, seeded: Seeded, tmp_path: Path
) -> None:
    path = tmp_path / "copy.db"
    shutil.copy(seeded.faulty_path, path)
    url = f"sqlite:///{path}"
    at = run(app(url, "pages/stability.py"))
    at.text_input[0].input("deploy v9 <b>bold</b> [link](http://evil.example)")
    at = run(at.button[0].click())
    assert "Added: deploy" in page_text(at)
    with ResultStore(url) as store:
        now = datetime.now(UTC)
        notes = store.annotations_between(now - timedelta(days=1), now + timedelta(days=1))
    assert [(n.kind, n.text) for n in notes] == [
        ("deploy", "deploy v9 <b>bold</b> [link](http://evil.example)")
    ]
    assert "http://evil" not in "".join(m.value for m in at.markdown)


def test_stability_form_rejects_an_empty_note(app: AppFactory, seeded: Seeded) -> None:
    at = run(app(seeded.faulty, "pages/stability.py"))
    at = run(at.button[0].click())
    assert "Write a note" in page_text(at)


def test_settings_lists_the_objectives_and_probes_in_force(app: AppFactory, seeded: Seeded) -> None:
    at = run(app(seeded.faulty, "pages/settings.py"))
    objectives, _rules, probes, _dashboard = (d.value for d in at.dataframe)
    assert "isolation" in set(objectives["name"])
    assert list(probes["name"]) == ["default"]
    assert not at.text_input, "read-only"


def test_reports_page_builds_the_faulty_stores_report(app: AppFactory, seeded: Seeded) -> None:
    at = run(app(seeded.faulty, "pages/reports.py"))
    assert at.title[0].value == "Reports"
    assert "Pick a window and build the report" in page_text(at)
    at = run(at.button[0].click())  # "Build report" over the default window (7d)
    assert at.error[0].value.startswith("**Verdict: FAIL**")
    objectives = at.dataframe[0].value
    assert "isolation" in set(objectives["objective"])


def test_an_unreachable_store_is_a_message_not_a_traceback(app: AppFactory) -> None:
    at = run(app("postgresql+psycopg://nobody@127.0.0.1:1/nothing"))
    assert "Cannot read the results store" in at.error[0].value
    assert "nobody@127.0.0.1:1" in at.error[0].value  # the URL, never a password
