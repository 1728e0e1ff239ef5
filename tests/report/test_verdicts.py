"""The report's headline is the verdict ``evaluate_window`` computed, in every format."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.report.model import Report, align
from dashboard.report.render import build_report, render
from probes.judging.evaluation import evaluate_window
from probes.records import RoundResult
from probes.results import ResultStore
from tests.report.conftest import (
    HOUR,
    T0,
    failed_session,
    good_hour,
    round_,
    save,
    session,
    settings,
)

NOW = T0 + 2 * HOUR
UNSUPPORTED = re.compile(r"\b(stable|stability|resolved|approved|healthy)\b", re.IGNORECASE)


def report(store: ResultStore, since: datetime = T0, until: datetime = T0 + HOUR) -> Report:
    return build_report(store, settings(), since=since, until=until, now=NOW)


def failing_hour() -> list[RoundResult]:
    rounds = good_hour("r")
    at = rounds[2].started_at
    rounds[2] = round_(
        "bad", at, (failed_session("bad", "probe-user-1", at), session("bad", "probe-user-2", at))
    )
    return rounds


DATASETS: dict[str, Callable[[], list[RoundResult]]] = {
    "pass": lambda: good_hour("r"),
    "fail": failing_hour,
    "insufficient-coverage": lambda: good_hour("r")[:2],  # 2 of 6 scheduled rounds
}


@pytest.mark.parametrize(
    ("dataset", "verdict"),
    [("pass", "PASS"), ("fail", "FAIL"), ("insufficient-coverage", "INSUFFICIENT DATA")],
)
def test_the_headline_is_the_computed_verdict_in_every_format(
    store: ResultStore, dataset: str, verdict: str
) -> None:
    save(store, DATASETS[dataset]())
    built = report(store)
    expected = evaluate_window(store, settings(), since=T0, until=T0 + HOUR)
    assert built.verdict == expected.verdict == verdict
    headline = f"Verdict: {verdict} — {expected.reason}"
    assert headline in render(built, "md").decode()
    assert json.loads(render(built, "json"))["verdict"] == verdict
    assert json.loads(render(built, "json"))["reason"] == expected.reason
    page = render(built, "html").decode()
    assert f"Verdict: {verdict} — " in page
    assert html.escape(expected.reason) in page


def test_an_empty_window_says_no_data_and_never_pass(store: ResultStore) -> None:
    save(store, good_hour("old", T0 - 3 * HOUR))  # records exist, none in the window
    built = report(store)
    assert built.empty
    assert built.verdict == "INSUFFICIENT DATA"
    md = render(built, "md").decode()
    assert "Verdict: INSUFFICIENT DATA — no data: no round or session was recorded" in md
    said = md.split("## How each figure")[0].replace("Minimum coverage for PASS", "")
    assert "PASS" not in said
    doc = json.loads(render(built, "json"))
    assert doc["no_data"] is True
    assert {o["status"] for o in doc["objectives"]} == {"no data"}
    assert all(o["value"] is None and o["samples"] == 0 for o in doc["objectives"])
    assert doc["facts"]["records"] == 0


def test_a_store_with_no_rounds_at_all_says_no_data(store: ResultStore) -> None:
    built = report(store)
    assert built.verdict == "INSUFFICIENT DATA"
    assert "no data" in render(built, "md").decode()


@pytest.mark.parametrize("dataset", ["pass", "fail"])
def test_the_words_say_no_more_than_the_verdict(store: ResultStore, dataset: str) -> None:
    save(store, DATASETS[dataset]())
    md = render(report(store), "md").decode()
    assert not UNSUPPORTED.search(md)


def test_a_breach_outside_the_window_does_not_reach_the_report(store: ResultStore) -> None:
    save(store, good_hour("r"))
    late = T0 + HOUR + timedelta(minutes=1)
    save(store, [round_("late", late, (failed_session("late", "u", late),))])
    assert report(store).verdict == "PASS"


def test_the_window_is_shrunk_to_whole_minutes() -> None:
    since = datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC)
    until = datetime(2025, 1, 1, 13, 0, 59, tzinfo=UTC)
    assert align(since, until) == (
        datetime(2025, 1, 1, 12, 1, tzinfo=UTC),
        datetime(2025, 1, 1, 13, 0, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="holds no whole minute"):
        align(since, since + timedelta(seconds=50))


def test_a_round_in_a_partial_first_minute_is_neither_counted_nor_listed(
    store: ResultStore,
) -> None:
    save(store, good_hour("r"))
    built = report(store, since=T0 + timedelta(seconds=30))  # the round at T0+5s is dropped
    assert built.main.since == T0 + timedelta(minutes=1)
    assert built.main.evidence.rounds == 5
    assert sum(built.evaluation.rounds.values()) == 5


def test_every_round_status_is_counted(store: ResultStore) -> None:
    rounds = good_hour("r")
    rounds[5] = round_(
        "skip", rounds[5].started_at, (), status="skipped", reason="previous round overran"
    )
    save(store, rounds)
    built = report(store)
    assert built.evaluation.rounds == {"passed": 5, "failed": 0, "error": 0, "skipped": 1}
    text = "6 rounds (5 passed, 0 breaching, 0 failed, 0 error, 1 skipped)"
    assert text in render(built, "md").decode()
    assert built.verdict == "INSUFFICIENT DATA"  # 5 of 6 scheduled rounds have data
