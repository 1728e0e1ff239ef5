"""The evidence under a report: its digest, the baseline comparison and the failures."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard.report.failures import MAX_LISTED
from dashboard.report.model import Report
from dashboard.report.render import build_report, render
from dashboard.report.tables import comparison_rows
from probes.cli.main import main
from probes.records import Annotation, DbTiming, RoundResult
from probes.results import ResultStore
from tests.report.conftest import (
    CONFIG,
    HOUR,
    T0,
    failed_session,
    good_hour,
    round_,
    save,
    session,
    settings,
)


def report(store: ResultStore, **kwargs: object) -> Report:
    return build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR, **kwargs)  # type: ignore[arg-type]


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def test_the_digest_is_the_same_for_the_same_records(store: ResultStore) -> None:
    save(store, good_hour("r"))
    first = report(store)
    again = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 5 * HOUR)
    assert first.main.evidence.digest == again.main.evidence.digest
    assert first.main.evidence.records == 18


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE sessions SET first_event_ms = 121.0 WHERE user_id = 'probe-user-2' "
        "AND run_id = 'r-3'",
        "UPDATE sessions SET error = 'edited' WHERE run_id = 'r-0' AND user_id = 'probe-user-1'",
        "UPDATE rounds SET memory_growth_mb = 4.5 WHERE run_id = 'r-5'",
        "UPDATE rounds SET status = 'failed' WHERE run_id = 'r-1'",
        "DELETE FROM sessions WHERE run_id = 'r-2' AND user_id = 'probe-user-2'",
    ],
    ids=["latency", "error-text", "memory", "status", "deleted-session"],
)
def test_the_digest_changes_when_a_record_changes(
    store: ResultStore, db_url: str, edit: str
) -> None:
    save(store, good_hour("r"))
    before = report(store).main.evidence
    with sqlite3.connect(sqlite_path(db_url)) as conn:
        assert conn.execute(edit).rowcount == 1
    after = report(store).main.evidence
    assert after.digest != before.digest


def test_the_digest_is_sha256_of_the_two_csv_files(
    store: ResultStore, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save(store, good_hour("r"))
    config = tmp_path / "slawatch.toml"
    config.write_text(CONFIG, encoding="utf-8")
    common = [
        "--since",
        T0.isoformat(),
        "--until",
        (T0 + HOUR).isoformat(),
        "--db",
        db_url,
        "--config",
        str(config),
    ]
    out = tmp_path / "evidence.csv"
    assert main(["report", *common, "--format", "csv", "-o", str(out)]) == 0
    assert main(["report", *common, "--format", "json"]) == 0
    facts = json.loads(capsys.readouterr().out)["facts"]
    rounds = tmp_path / "evidence.rounds.csv"
    both = out.read_bytes() + rounds.read_bytes()
    assert facts["digest"] == hashlib.sha256(both).hexdigest()
    assert facts["sessions_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert facts["rounds_sha256"] == hashlib.sha256(rounds.read_bytes()).hexdigest()
    assert out.read_text().count("\n") == 1 + 12 and rounds.read_text().count("\n") == 1 + 6


def worse_hour() -> list[RoundResult]:
    """The good hour, but one session of round 2 failed and memory grew 80 MB in round 4."""
    rounds = good_hour("w")
    at = rounds[2].started_at
    rounds[2] = round_(
        "w-2", at, (failed_session("w-2", "probe-user-1", at), session("w-2", "probe-user-2", at))
    )
    rounds[4] = round_("w-4", rounds[4].started_at, growth_mb=80.0)
    return rounds


def test_the_baseline_comparison_states_before_after_and_change(store: ResultStore) -> None:
    save(store, good_hour("b", T0 - HOUR) + worse_hour())
    built = report(store, baseline=(T0 - HOUR, T0))
    assert built.baseline is not None
    assert built.baseline.evaluation.verdict == "PASS"
    assert built.verdict == "FAIL"
    doc = json.loads(render(built, "json"))
    assert doc["baseline"]["verdict"] == "PASS"
    assert doc["baseline"]["since"] == (T0 - HOUR).isoformat()
    compared = {c["name"]: c["figures"] for c in doc["comparison"]}
    success = compared["session-success"]
    assert success["status"] == {"before": "met", "after": "breached"}
    assert success["value"]["before"] == 100.0
    assert success["value"]["after"] == pytest.approx(100 * 11 / 12)
    assert success["value"]["change"] == pytest.approx(100 * 11 / 12 - 100)
    assert success["samples"] == {"before": 12, "after": 12, "change": 0}
    assert success["burn_rate"]["after"] == pytest.approx((1 / 12) / 0.01)
    memory = compared["memory-growth"]
    assert memory["burn_rate"] == {"before": 0.0, "after": "Infinity", "change": "Infinity"}
    assert memory["budget_left"]["change"] == "-Infinity"
    rows = comparison_rows(built)
    assert ["session-success", "value", "100.00 %", "91.66 %", "-8.33 pp"] in rows
    assert ["session-success", "status", "met", "breached", "met → breached"] in rows
    assert ["memory-growth", "burn rate", "0.00x", "∞", "+∞"] in rows
    md = render(built, "md").decode()
    assert "## Comparison with the baseline" in md
    assert "Baseline verdict: PASS" in md


def test_without_a_baseline_there_is_no_comparison(store: ResultStore) -> None:
    save(store, good_hour("r"))
    built = report(store)
    assert json.loads(render(built, "json"))["comparison"] is None
    assert "Comparison with the baseline" not in render(built, "md").decode()


def test_failing_rounds_are_grouped_by_reason_with_times_and_users(store: ResultStore) -> None:
    rounds = good_hour("r")
    at = [r.started_at for r in rounds]
    rounds[1] = round_(
        "r-1", at[1], (failed_session("r-1", "alice", at[1]), failed_session("r-1", "bob", at[1]))
    )
    rounds[2] = round_(
        "r-2",
        at[2],
        (
            failed_session(
                "r-2",
                "carol",
                at[2],
                reason="incomplete",
                close_code=1000,
                error="missing agent_completed",
            ),
            session("r-2", "dave", at[2]),
        ),
    )
    rounds[3] = round_("r-3", at[3], auth_ok=False)
    rounds[4] = round_("r-4", at[4], (), status="error", reason="target unreachable")
    slow_db = (DbTiming("thread_create", None, None, False, "no reply within 5s"),)
    rounds[5] = replace(round_("r-5", at[5]), db_timings=slow_db, status="failed")
    save(store, rounds)
    groups = {g.reason: g for g in report(store).failures}
    assert list(groups) == [
        "closed_abnormally",
        "incomplete",
        "bad token not refused",
        "database check failed",
        "round error",
    ]
    assert groups["database check failed"].listed[0].errors == (
        "thread_create: no reply within 5s",
    )
    closed = groups["closed_abnormally"]
    assert (closed.sessions, closed.rounds) == (2, 1)
    assert closed.listed[0].users == ("alice", "bob")
    assert closed.listed[0].close_codes == (1011,)
    assert closed.listed[0].started_at == "2025-03-03T12:10:05.000000Z"
    assert groups["incomplete"].listed[0].errors == ("missing agent_completed",)
    assert groups["bad token not refused"].listed[0].errors == ("accepted a bad token",)
    assert groups["round error"].listed[0].errors == ("target unreachable",)
    md = render(report(store), "md").decode()
    assert "### closed_abnormally: 2 sessions in 1 round" in md
    assert "| 2025-03-03 12:10:05 UTC | r-1 | alice, bob | 1011 internal error |" in md


def test_a_long_failure_list_is_cut_but_counted_in_full(store: ResultStore) -> None:
    count = MAX_LISTED + 5
    step = (HOUR * 10) / count
    rounds = []
    for i in range(count):
        at = T0 + i * step
        rounds.append(round_(f"f-{i:03d}", at, (failed_session(f"f-{i:03d}", "u", at),)))
    save(store, rounds)
    built = build_report(store, settings(), since=T0, until=T0 + 10 * HOUR, now=T0)
    group = built.failures[0]
    assert (group.rounds, len(group.listed)) == (count, MAX_LISTED)
    assert f"The first {MAX_LISTED} of {count} rounds are listed" in render(built, "md").decode()


def test_maintenance_windows_in_the_window_are_listed_and_excluded(
    store: ResultStore,
) -> None:
    save(store, good_hour("r"))
    store.add_annotation(
        Annotation(
            "maintenance", T0 + timedelta(minutes=10), T0 + timedelta(minutes=12), "db upgrade"
        )
    )
    store.add_annotation(Annotation("maintenance", T0 - 2 * HOUR, T0 - HOUR, "earlier"))
    built = report(store)
    assert [a.text for a in built.maintenance] == ["db upgrade"]
    excluded = {r.name: r.excluded_buckets for r in built.evaluation.results}
    assert excluded["session-success"] == 1  # the round at 12:10:05, one one-minute bucket
    md = render(built, "md").decode()
    assert "| maintenance | 2025-03-03 12:10:00 UTC | 2025-03-03 12:12:00 UTC |" in md
