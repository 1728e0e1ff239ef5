"""Several `slawatch run` processes, one PostgreSQL store: killed, restarted, counted once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probes.config import SloSettings, parse_settings
from probes.judging.evaluation import SETTLE_S, slot_coverage
from probes.results import ResultStore
from tests.cli.conftest import slawatch
from tests.support.backend_process import Backend, start_backends, stop_backends
from tests.support.databases import PG_URL, fresh_pg_schema
from tests.support.runner_process import Runner, probe_config, start_runner, wait_for

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs SLAWATCH_TEST_PG_URL")
EVERY_S = 3.0
SUCCESS = SloSettings("s", "session_success", 99.0)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    [started] = start_backends(tmp_path, ())
    yield started
    stop_backends([started])


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_pg_schema() as url:
        yield url


def test_four_runners_killed_and_restarted_store_every_acknowledged_round_once(
    backend: Backend, pg_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "slawatch.toml"
    config.write_text(probe_config(backend.url))
    began = datetime.now(UTC)
    # All four at once on an empty database: the migrations race unless locked.
    runners = [start_runner(config, f"r{i}", pg_url) for i in range(4)]
    done: list[Runner] = []
    try:
        wait_for(lambda: all(r.acknowledged for r in runners), what="a round from each runner")
        killed = runners[:2]
        for runner in killed:
            runner.kill()
        done += killed
        with ResultStore(pg_url) as store:
            wait_for(
                lambda: all(_down(store, r.label) for r in killed), what="killed runners seen down"
            )
        restarted = [start_runner(config, r.label, pg_url) for r in killed]
        restarted_at = datetime.now(UTC)
        runners = restarted + runners[2:]
        wait_for(lambda: all(len(r.acknowledged) >= 2 for r in restarted), what="restarted")
    finally:
        codes = [r.stop() for r in runners]
        done += runners
    assert codes == [0, 0, 0, 0]
    assert [line for r in runners[2:] for line in r.errors()] == [], "".join(
        runners[2].lines + runners[3].lines
    )
    acknowledged = Counter(run_id for r in done for run_id in r.acknowledged)
    assert acknowledged and max(acknowledged.values()) == 1
    since, until = began - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)
    with ResultStore(pg_url) as store:
        stored = Counter(r["run_id"] for r in store.rounds_between(since, until))
        per_round = Counter(s["run_id"] for s in store.sessions_between(since, until))
        data = {r["run_id"] for r in store.rounds_between(since, until)
                if r["status"] in ("passed", "failed")}  # fmt: skip
        # session_success is counted from the minute rollup, written with each round.
        rolled_up = sum(b.valid for b in store.sli_counts(SUCCESS, since, until, bucket_s=3600))
    counted = sum(n for run_id, n in per_round.items() if run_id in data)
    assert {run_id: stored[run_id] for run_id in acknowledged} == dict.fromkeys(acknowledged, 1)
    # One user per round; a skipped or error round (a slot missed under load) has none.
    assert all(per_round[run_id] == 1 for run_id in acknowledged if run_id in data)
    assert rolled_up == counted  # the minute counters count each session once
    exported = slawatch("export", "rounds", "--db", pg_url, "--since", "10m", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    ids = [row["run_id"] for row in json.loads(exported.stdout)]
    assert Counter(ids) == stored
    settings = parse_settings(config.read_text())
    with ResultStore(pg_url) as store:
        # Up to the restart, and as long after as the restart's slot takes to be stored.
        until = restarted_at + timedelta(seconds=settings.probes[0].timeout_s + SETTLE_S)
        coverage = slot_coverage(store, store.runner_beats(), settings.probes[0], began, until)
    assert coverage is not None and set(coverage) == {"r0", "r1", "r2", "r3"}
    assert coverage["r0"] is not None and coverage["r0"] < 1.0  # its gap is no data


def _down(store: ResultStore, label: str) -> bool:
    now = datetime.now(UTC)
    beats = [b for b in store.runner_beats() if b.runner == label]
    return bool(beats) and all(b.down(now) for b in beats)


def test_an_ha_pair_shares_one_schedule_and_the_survivor_takes_over(
    backend: Backend, pg_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "slawatch.toml"
    config.write_text(probe_config(backend.url))
    pair = [start_runner(config, "eu", pg_url, ha=True) for _ in range(2)]
    try:
        wait_for(lambda: len(pair[0].acknowledged + pair[1].acknowledged) >= 3, what="3 rounds")
        victim, survivor = pair
        victim.kill()
        killed_at = datetime.now(UTC)
        mark = len(survivor.acknowledged)
        wait_for(lambda: len(survivor.acknowledged) >= mark + 3, what="the survivor's rounds")
        with ResultStore(pg_url) as store:
            wait_for(lambda: not _unsettled(store, killed_at), timeout_s=30, what="lost marked")
    finally:
        assert survivor.stop() == 0
    assert survivor.errors() == []
    with ResultStore(pg_url) as store:
        slots = store.slot_records("eu", killed_at - timedelta(hours=1), datetime.now(UTC))
        stored = {r["run_id"]: r for r in store.rounds_between(
            killed_at - timedelta(hours=1), datetime.now(UTC))}  # fmt: skip
    times = [s["slot"] for s in slots]
    step = timedelta(seconds=EVERY_S)
    # No slot silently lost: every slot from the first to the last has its record.
    assert times == [times[0] + k * step for k in range(len(times))]
    for s in slots:
        assert s["state"] == "lost" or s["run_id"] in stored, s
    # The survivor runs every slot from the first one after the kill.
    after = [s for s in slots if s["slot"] >= killed_at]
    assert after and after[0]["slot"] - killed_at <= step
    assert {s["state"] for s in after} == {"started"}
    # No slot run twice: one stored round per slot.
    assert len(stored) == len([s for s in slots if s["run_id"] in stored])
    assert (
        Counter((r["probe"], r["started_at"][:19]) for r in stored.values()).most_common(1)[0][1]
        == 1
    )


def _unsettled(store: ResultStore, since: datetime) -> bool:
    """A slot started before ``since`` whose round is neither stored nor marked lost."""
    rows = store.slot_records("eu", since - timedelta(minutes=5), since)
    return any(s["state"] == "started" and store.round(str(s["run_id"])) is None for s in rows)
