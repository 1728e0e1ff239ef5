"""The location x probe grid and the runners-down list, from stored rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.chartdata.locations import down_labels, grid, runners_frame
from probes.config import ProbeSettings
from probes.records import RunnerBeat

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
PROBES = (
    ProbeSettings(name="chat", every_s=60.0, timeout_s=30.0),
    ProbeSettings(name="search", every_s=60.0, timeout_s=30.0),
)


def beat(instance: str, runner: str, last: datetime, state: str = "running") -> RunnerBeat:
    return RunnerBeat(
        instance, runner, "h", 1, False, (("chat", 60.0), ("search", 60.0)), 5.0,
        NOW - 3600 * S, last, state=state,  # type: ignore[arg-type]
    )  # fmt: skip


def row(runner: str, probe: str, status: str, ago_s: float) -> dict[str, object]:
    return {"runner": runner, "probe": probe, "status": status,
            "started_at": (NOW - ago_s * S).isoformat()}  # fmt: skip


def test_each_location_shows_its_latest_fresh_status_and_a_dead_one_is_down() -> None:
    beats = [
        beat("a", "eu", NOW - 2 * S),
        beat("b", "us", NOW - 60 * S),  # no beat for 3 x 5 s: down
        beat("c", "ap", NOW - 1 * S),
        beat("d", "ap", NOW - 90 * S),  # one HA process of ap is down, the other is not
    ]
    rounds = [
        row("eu", "chat", "failed", 120),
        row("eu", "chat", "passed", 50),  # the latest counts
        row("eu", "search", "passed", 200),  # older than 2 x 60 s + 30 s: no data
        row("us", "chat", "passed", 55),  # a stored status, but the runner is down
        row("ap", "chat", "skipped", 10),
    ]
    frame = grid(rounds, beats, PROBES, NOW)
    assert frame.to_dict() == {
        "chat": {"ap": "skipped", "eu": "passed", "us": "down"},
        "search": {"ap": "no data", "eu": "no data", "us": "down"},
    }
    assert down_labels(beats, NOW) == {"us"}


def test_one_off_rounds_from_a_label_without_a_runner_show_but_are_never_down() -> None:
    frame = grid([row("laptop", "chat", "failed", 5)], [], PROBES, NOW)
    assert frame.to_dict() == {"chat": {"laptop": "failed"}, "search": {"laptop": "no data"}}


def test_a_stopped_runner_is_down_at_once() -> None:
    beats = [beat("a", "eu", NOW - 1 * S, state="stopped")]
    assert runners_frame(beats, NOW)["state"].tolist() == ["down"]
    assert runners_frame([], NOW).empty
