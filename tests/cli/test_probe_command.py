"""`slawatch probe`, `export` and `token` against real backends and real SQLite files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jwt

from probes.records import RoundResult, SessionResult
from probes.results import ResultStore
from tests.support.backend_process import SECRET, Backend

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_probe_of_a_healthy_backend_passes_the_gate(
    run_slawatch: Run, backends: dict[str, Backend], tmp_path: Path, relaxed_config: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'results.db'}"
    done = run_slawatch(
        "probe",
        "--target",
        backends["clean"].url,
        "--users",
        "4",
        "--rounds",
        "2",
        "--db",
        db,
        "--gate",
        "--config",
        str(relaxed_config),
    )
    assert done.returncode == 0, done.stderr
    assert "verdict: PASS" in done.stdout
    assert done.stdout.count(" passed ") == 2
    exported = run_slawatch("export", "sessions", "--db", db, "--format", "json")
    rows = json.loads(exported.stdout)
    assert len(rows) == 8
    assert {r["outcome"] for r in rows} == {"ok"}
    assert {r["close_code"] for r in rows} == {1000}


def test_gate_fails_the_pipeline_when_runs_close_with_1011(
    run_slawatch: Run, backends: dict[str, Backend], tmp_path: Path, relaxed_config: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'results.db'}"
    done = run_slawatch(
        "probe",
        "--target",
        backends["close_1011"].url,
        "--users",
        "3",
        "--db",
        db,
        "--gate",
        "--config",
        str(relaxed_config),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verdict: FAIL" in done.stdout
    assert "no-internal-errors" in done.stdout.split("verdict:")[1]
    rows = json.loads(run_slawatch("export", "sessions", "--db", db).stdout)
    assert [(r["close_code"], r["reason"]) for r in rows] == [(1011, "closed_abnormally")] * 3


def test_an_unreachable_target_is_one_line_and_no_objective_is_breached(
    run_slawatch: Run, tmp_path: Path, unused_tcp_port: int
) -> None:
    db = f"sqlite:///{tmp_path / 'results.db'}"
    target = f"ws://127.0.0.1:{unused_tcp_port}/ws"
    done = run_slawatch("probe", "--target", target, "--users", "2", "--db", db, "--gate")
    assert done.returncode == 2  # not 1: nothing was breached, nothing could be judged
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"slawatch: --target {target} is unreachable (")
    assert "1 round stored as error" in lines[0]
    assert "breached" not in done.stderr and "Traceback" not in done.stderr
    rounds = json.loads(run_slawatch("export", "rounds", "--db", db).stdout)
    assert [(r["status"], r["auth_ok"]) for r in rounds] == [("error", None)]
    assert rounds[0]["reason"].startswith("target unreachable: ")
    rows = json.loads(run_slawatch("export", "sessions", "--db", db).stdout)
    assert [(r["outcome"], r["reason"], r["close_code"]) for r in rows] == [
        ("failed", "connect_error", None)
    ] * 2  # the evidence is kept whole


def test_without_a_secret_probe_says_what_is_missing(run_slawatch: Run, tmp_path: Path) -> None:
    done = run_slawatch(
        "probe", "--db", f"sqlite:///{tmp_path / 'r.db'}", env={"SLAWATCH_JWT_SECRET": ""}
    )
    assert done.returncode == 2
    assert "SLAWATCH_JWT_SECRET is not set" in done.stderr


def test_a_bad_config_names_the_key_and_exits_2(run_slawatch: Run, tmp_path: Path) -> None:
    config = tmp_path / "slawatch.toml"
    config.write_text("[[probes]]\nusers = 'many'\n")
    done = run_slawatch("probe", "--config", str(config))
    assert done.returncode == 2
    assert "probes[0].users: must be an integer" in done.stderr
    assert "Traceback" not in done.stderr


def test_token_is_accepted_by_the_protocols_rules(run_slawatch: Run) -> None:
    done = run_slawatch("token", "--user", "alice", "--ttl", "15m")
    claims = jwt.decode(done.stdout.strip(), SECRET, algorithms=["HS256"], audience="agent-chat")
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 900


def test_csv_export_makes_formula_cells_inert(run_slawatch: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    at = datetime.now(UTC)
    hostile = SessionResult(
        run_id="r1",
        probe="default",
        target="ws://x/ws",
        runner="local",
        user_id="=cmd|' /C calc'!A0",
        auth_mode="header",
        started_at=at,
        close_code=1011,
        close_reason="+SUM(1,2)",
        error="@evil",
        outcome="failed",
        reason="closed_abnormally",
    )
    with ResultStore.open(url) as store:
        store.save_round(
            RoundResult(
                "r1", "default", "ws://x/ws", "local", at, at, "failed", sessions=(hostile,)
            )
        )
    done = run_slawatch("export", "sessions", "--db", url, "--format", "csv")
    assert done.returncode == 0, done.stderr
    row = next(csv.DictReader(io.StringIO(done.stdout)))
    assert row["user_id"] == "'=cmd|' /C calc'!A0"
    assert row["close_reason"] == "'+SUM(1,2)"
    assert row["error"] == "'@evil"
    assert list(row) == [
        "run_id",
        "probe",
        "target",
        "runner",
        "user_id",
        "auth_mode",
        "started_at",
        "connect_ms",
        "first_event_ms",
        "completion_ms",
        "total_ms",
        "close_code",
        "close_reason",
        "http_status",
        "events",
        "missing_events",
        "order_ok",
        "foreign_events",
        "outcome",
        "reason",
        "error",
    ]
