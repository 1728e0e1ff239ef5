"""A runner that stops storing rounds says so: logged, in its heartbeat, seen down."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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


def test_a_runner_restarted_after_sigkill_runs_the_slot_its_dead_predecessor_started(
    tmp_path: Path,
) -> None:
    """SIGKILL mid-round, restart within the interval: the slot is filled, not lost.

    The killed process recorded the slot as started and never stored its round; the
    new one (same label, same host, the old pid gone) takes the slot over, so its round
    fills it instead of being stored without a slot while the slot is marked lost.
    """
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers a handshake
    port = silent.getsockname()[1]
    config = tmp_path / "slawatch.toml"
    config.write_text(
        f'[[probes]]\nname = "p"\ntarget = "ws://127.0.0.1:{port}/ws"\nusers = 1\n'
        'every = "1d"\ntimeout = "4s"\nsession_timeout = "2s"\nhealthz = "off"\n'
        "bad_token_check = false\ndb_check = false\n"
    )
    url = f"sqlite:///{tmp_path / 'results.db'}"
    since = datetime.now(UTC) - timedelta(days=2)
    ResultStore.open(url).close()  # the schema exists before the test reads it
    first = start_runner(config, "eu", url)
    try:
        with ResultStore(url) as store:
            wait_for(
                lambda: _started(store, since) and bool(store.runner_beats()),
                what="the first process's slot record and heartbeat",
            )
            [(slot, dead_run)] = _started(store, since)
        first.kill()
        second = start_runner(config, "eu", url)
        try:
            wait_for(lambda: bool(second.acknowledged), what="the new process's round")
        finally:
            assert second.stop() == 0
    finally:
        silent.close()
    [run_id] = second.acknowledged
    with ResultStore(url) as store:
        [record] = store.slot_records("eu", since, datetime.now(UTC) + timedelta(days=1))
    if record["slot"] != slot:
        pytest.skip("the schedule's day turned between the two processes")
    assert (record["state"], record["run_id"]) == ("started", run_id)
    assert run_id != dead_run
    assert [line for line in second.lines if "already recorded" in line] == []


def _started(store: ResultStore, since: datetime) -> list[tuple[datetime, str]]:
    until = datetime.now(UTC) + timedelta(days=1)
    return [
        (r["slot"], r["run_id"])
        for r in store.slot_records("eu", since, until)
        if r["state"] == "started"
    ]
