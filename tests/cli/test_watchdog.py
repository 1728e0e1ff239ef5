"""A runner that stops storing rounds says so: logged, in its heartbeat, seen down."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probes.records import RunnerBeat
from probes.results import ResultStore
from tests.support.backend_process import Backend, start_backends, stop_backends
from tests.support.runner_process import probe_config, start_runner, wait_for


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    [started] = start_backends(tmp_path, ())
    yield started
    stop_backends([started])


def test_a_runner_whose_store_is_locked_is_logged_stalled_and_seen_down(
    backend: Backend, tmp_path: Path
) -> None:
    config = tmp_path / "slawatch.toml"
    config.write_text(probe_config(backend.url))
    db = tmp_path / "results.db"
    runner = start_runner(config, "eu", f"sqlite:///{db}")
    try:
        wait_for(lambda: bool(runner.acknowledged), what="a first stored round")
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            wait_for(
                lambda: any("has stalled" in line for line in runner.lines),
                timeout_s=60,
                what="the watchdog's stall line",
            )
            with ResultStore(f"sqlite:///{db}") as store:  # reads still work in WAL mode
                [beat] = store.runner_beats()
                assert beat.down(datetime.now(UTC))  # its beats stopped landing
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        with ResultStore(f"sqlite:///{db}") as store:
            wait_for(
                lambda: _beat(store).stalls == 1 and _beat(store).state == "running",
                timeout_s=60,
                what="the stall recorded in the heartbeat",
            )
            beat = _beat(store)
    finally:
        assert runner.stop() == 0
    assert beat.last_stall_at is not None
    assert beat.last_stored_at is not None and beat.last_stored_at > beat.last_stall_at
    assert any("stores rounds again" in line for line in runner.lines)


def _beat(store: ResultStore) -> RunnerBeat:
    [beat] = store.runner_beats()
    return beat
