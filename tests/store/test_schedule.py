"""The schedule's records: slot leases, heartbeats, and coverage over scheduled slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from probes.config import parse_settings
from probes.judging.evaluation import evaluate_window, slot_coverage
from probes.records import RoundResult, RunnerBeat, SessionResult
from probes.results import ResultStore

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
CONFIG = """
[[probes]]
name = "chat"
target = "ws://a/ws"
every = "10s"
timeout = "5s"
session_timeout = "2s"
[[slo]]
name = "ok"
sli = "session_success"
objective = 99
"""


def beat(instance: str, runner: str, started: datetime, last: datetime) -> RunnerBeat:
    return RunnerBeat(instance, runner, "host", 1, False, (("chat", 10.0),), 5.0, started, last)


def a_round(run_id: str, at: datetime, runner: str = "eu") -> RoundResult:
    user = SessionResult(run_id, "chat", "ws://a/ws", runner, "u1", "header", at, outcome="ok")
    return RoundResult(run_id, "chat", "ws://a/ws", runner, at, at, "passed", sessions=(user,))


def scheduled(store: ResultStore, run_id: str, slot: datetime, runner: str = "eu") -> None:
    assert store.take_slot(probe="chat", runner=runner, slot=slot, instance="i1", run_id=run_id)
    store.save_round(a_round(run_id, slot + 0.01 * S, runner))


def test_a_slot_is_taken_once(store: ResultStore) -> None:
    first = store.take_slot(probe="chat", runner="eu", slot=T0, instance="a", run_id="x")
    second = store.take_slot(probe="chat", runner="eu", slot=T0, instance="b", run_id="y")
    other_label = store.take_slot(probe="chat", runner="us", slot=T0, instance="b", run_id="z")
    assert (first, second, other_label) == (True, False, True)
    [row] = store.slot_records("eu", T0, T0 + S)
    assert (row["instance"], row["run_id"], row["state"]) == ("a", "x", "started")


def test_heartbeats_are_written_and_read_back(store: ResultStore) -> None:
    b = beat("i1", "eu", T0, T0 + 10 * S)
    store.write_beat(b)
    store.write_beat(b)  # the same process beats again: one row
    assert store.runner_beats() == [b]
    assert not b.down(T0 + 25 * S)
    assert b.down(T0 + 26 * S)  # three beat intervals without a beat


def test_a_scheduler_down_for_most_of_the_window_is_no_data_despite_one_off_rounds(
    store: ResultStore,
) -> None:
    settings = parse_settings(CONFIG)
    store.write_beat(beat("i1", "eu", T0, T0 + 40 * S))
    for k in range(4):  # slots 0..30 s run; then the scheduler is down until 120 s
        scheduled(store, f"s{k}", T0 + k * 10 * S)
    for k in range(30):  # a burst of one-off `slawatch probe` rounds in the gap
        store.save_round(a_round(f"o{k}", T0 + 45 * S + k * S))
    until = T0 + 120 * S
    coverage = slot_coverage(store, store.runner_beats(), settings.probes[0], T0, until)
    # Slots 0..100 s must be stored by 120 s (timeout 5 s + settle): 4 of 11.
    assert coverage == {"eu": 4 / 11}
    evaluation = evaluate_window(store, settings, since=T0, until=until)
    assert evaluation.verdict == "INSUFFICIENT DATA"
    assert "coverage below 90%" in evaluation.reason


def test_each_runner_counts_from_its_first_start_and_a_lost_slot_is_no_data(
    store: ResultStore,
) -> None:
    settings = parse_settings(CONFIG)
    store.write_beat(beat("i1", "eu", T0, T0 + 60 * S))
    store.write_beat(beat("i2", "us", T0 + 30 * S, T0 + 60 * S))
    for k in range(6):
        scheduled(store, f"eu{k}", T0 + k * 10 * S, "eu")
    for k in range(3, 5):
        scheduled(store, f"us{k}", T0 + k * 10 * S, "us")
    assert store.take_slot(probe="chat", runner="us", slot=T0 + 50 * S, instance="i2", run_id="q")
    assert store.mark_lost_slots("us", ["i2"], T0 + 60 * S) == 1
    [lost] = [s for s in store.slot_records("us", T0, T0 + 60 * S) if s["run_id"] == "q"]
    assert lost["state"] == "lost"
    coverage = slot_coverage(store, store.runner_beats(), settings.probes[0], T0, T0 + 70 * S)
    assert coverage == {"eu": 1.0, "us": 2 / 3}
    only_us = slot_coverage(store, store.runner_beats(), settings.probes[0], T0, T0 + 70 * S, "us")
    assert only_us == {"us": 2 / 3}


def test_a_probe_no_runner_scheduled_falls_back_to_round_counts(store: ResultStore) -> None:
    settings = parse_settings(CONFIG)
    assert slot_coverage(store, store.runner_beats(), settings.probes[0], T0, T0 + 60 * S) is None
