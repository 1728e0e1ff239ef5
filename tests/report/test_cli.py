"""``slawatch report``: windows, baselines, outputs and the errors that name the flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.report.render import rounds_csv_path
from probes.cli.main import main
from probes.results import ResultStore
from tests.report.conftest import CONFIG, HOUR, T0, good_hour, save

UNTIL = (T0 + HOUR).isoformat()


@pytest.fixture
def flags(store: ResultStore, db_url: str, tmp_path: Path) -> list[str]:
    save(store, good_hour("b", T0 - HOUR) + good_hour("r"))
    config = tmp_path / "slawatch.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return ["report", "--db", db_url, "--config", str(config)]


def test_window_ends_at_until_and_the_baseline_where_the_window_starts(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [*flags, "--window", "1h", "--until", UNTIL, "--baseline-window", "1h", "--format", "json"]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["window"]["since"], doc["window"]["until"]) == (T0.isoformat(), UNTIL)
    assert doc["baseline"]["since"] == (T0 - HOUR).isoformat()
    assert doc["baseline"]["until"] == T0.isoformat()
    assert doc["verdict"] == doc["baseline"]["verdict"] == "PASS"


def test_markdown_goes_to_stdout_and_a_summary_to_stderr(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*flags, "--since", T0.isoformat(), "--until", UNTIL]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# slawatch compliance report\n")
    assert "slawatch report: PASS (18 records, digest " in err


def test_filters_narrow_the_records(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            *flags,
            "--since",
            T0.isoformat(),
            "--until",
            UNTIL,
            "--format",
            "json",
            "--probe",
            "other",
            "--runner",
            "local",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["window"]["filters"] == {"target": None, "probe": "other", "runner": "local"}
    assert doc["facts"]["records"] == 0
    assert doc["verdict"] == "INSUFFICIENT DATA"


def test_a_pdf_is_written_to_the_output_file(flags: list[str], tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    window = ["--since", T0.isoformat(), "--until", UNTIL]
    assert main([*flags, *window, "--format", "pdf", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window", "1h", "--format", "pdf"], "--format pdf needs -o FILE"),
        (["--window", "1h", "--since", "2h"], "give --window or --since, not both"),
        ([], "say which window: --window 7d, or --since TIME [--until TIME]"),
        (["--window", "7x"], "--window: expected a duration such as 30s, 5m, 1h or 7d"),
        (["--since", "yesterday"], "--since: expected an ISO 8601 time or a duration"),
        (["--since", UNTIL, "--until", T0.isoformat()], "the window is empty"),
        (["--window", "1h", "--baseline-until", UNTIL], "--baseline-until needs --baseline-since"),
        (
            ["--window", "1h", "--baseline-window", "1h", "--baseline-since", "3h"],
            "give --baseline-window or --baseline-since, not both",
        ),
        (["--window", "30s"], "holds no whole minute"),
    ],
)
def test_a_bad_request_exits_2_naming_what_to_change(
    flags: list[str], capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main([*flags, *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "rounds"),
    [
        ("out/report.csv", "out/report.rounds.csv"),
        ("out/REPORT.CSV", "out/REPORT.rounds.csv"),
        ("evidence", "evidence.rounds.csv"),
        ("evidence.txt", "evidence.txt.rounds.csv"),
    ],
)
def test_the_rounds_csv_goes_next_to_the_sessions_csv(given: str, rounds: str) -> None:
    assert rounds_csv_path(Path(given)) == Path(rounds)
