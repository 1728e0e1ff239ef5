"""A lock stall on the results store, on SQLite and PostgreSQL: writers wait it out with
a logged backoff, or keep every measured round in the spill file and exit 3 (never 1);
readers are never held up by a writer's lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probes.config import Settings, StoreSettings
from probes.errors import EXIT_STORE
from probes.results import ResultStore
from probes.scheduling.scheduler import ProbeScheduler
from tests.chaos.conftest import hold_write_lock
from tests.cli.conftest import RELAXED, SLAWATCH, slawatch
from tests.support.backend_process import SECRET, Backend
from tests.support.probing import probe_settings

WAIT_S = 60.0


def _config(tmp_path: Path, lock_wait: str) -> Path:
    path = tmp_path / "slawatch.toml"
    spill = tmp_path / "spill.jsonl"
    path.write_text(
        f'{RELAXED}\n[store]\nbusy_timeout = "200ms"\nlock_wait = "{lock_wait}"\n'
        f'spill_file = "{spill}"\n'
    )
    return path


def _probe_argv(backend: Backend, url: str, config: Path, rounds: int) -> list[str]:
    return [
        "probe",
        "--target",
        backend.url,
        "--users",
        "2",
        "--rounds",
        str(rounds),
        "--gate",
        "--config",
        str(config),
        "--db",
        url,
    ]


def _wait_for_line(proc: subprocess.Popen[str], needle: str) -> list[str]:
    """Lines of the process's stderr up to the first that contains ``needle``."""
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + WAIT_S
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if needle in line:
                return seen
    raise AssertionError(f"{needle!r} never logged; stderr so far: {''.join(seen)}")


def _round_count(url: str) -> int:
    with ResultStore.open(url) as store:
        return sum(store.round_counts(_EPOCH, _FAR).values())


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_FAR = datetime(2100, 1, 1, tzinfo=UTC)


def test_probe_waits_out_a_lock_and_stores_every_round(
    backend: Backend, store_url: str, tmp_path: Path
) -> None:
    ResultStore.open(store_url).close()
    config = _config(tmp_path, "60s")
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    with hold_write_lock(store_url):
        proc = subprocess.Popen(
            [str(SLAWATCH), *_probe_argv(backend, store_url, config, 2)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            logged = _wait_for_line(proc, "again in")
        except BaseException:
            proc.kill()
            raise
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, "".join(logged) + err
    assert "locked" in "".join(logged) or "lock timeout" in "".join(logged)
    assert "Traceback" not in err
    assert "verdict: PASS" in out
    assert _round_count(store_url) == 2


def test_a_lock_that_never_clears_is_exit_3_and_every_round_is_kept(
    backend: Backend, store_url: str, tmp_path: Path
) -> None:
    ResultStore.open(store_url).close()
    config = _config(tmp_path, "1s")
    with hold_write_lock(store_url):
        done = slawatch(*_probe_argv(backend, store_url, config, 2))
    assert done.returncode == EXIT_STORE, done.stderr
    assert "Traceback" not in done.stderr
    spill = tmp_path / "spill.jsonl"
    assert f"2 measured round(s) kept in {spill}" in done.stderr
    assert len(spill.read_text().splitlines()) == 2
    assert _round_count(store_url) == 0
    # The next writer's start imports them, once.
    with ResultStore.open(store_url, spill_file=str(spill)):
        pass
    assert not spill.exists()
    assert _round_count(store_url) == 2


@pytest.mark.parametrize("command", [["export", "sessions"], ["report", "--since", "1h"]])
def test_readers_are_not_held_up_by_a_writers_lock(
    command: list[str], sqlite_url: str, tmp_path: Path
) -> None:
    ResultStore.open(sqlite_url).close()
    config = _config(tmp_path, "60s")
    with hold_write_lock(sqlite_url):
        done = slawatch(*command, "--config", str(config), "--db", sqlite_url, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "again in" not in done.stderr


@pytest.mark.asyncio
async def test_the_scheduler_spills_rounds_while_locked_and_imports_them_after(
    backend: Backend, store_url: str, tmp_path: Path
) -> None:
    spill = tmp_path / "spill.jsonl"
    probe = probe_settings(backend.url, users=2, healthz="off")
    settings = Settings(store=StoreSettings(url=store_url), probes=(probe,))
    store = ResultStore.open(store_url, busy_timeout_ms=100, spill_file=str(spill))
    store.lock_wait_s = 0.5  # after the start: other test runs may migrate on the same server
    scheduler = ProbeScheduler(settings, store, SECRET, runner="chaos")
    measured = []
    try:
        with hold_write_lock(store_url):
            measured.append(await scheduler.run_probe(probe))
            measured.append(await scheduler.run_probe(probe))
            assert len(spill.read_text().splitlines()) == 2
        measured.append(await scheduler.run_probe(probe))
    finally:
        await scheduler.stop()
    assert not spill.exists()
    stored = [store.round(r.run_id) for r in measured]
    store.close()
    assert stored == measured


@pytest.mark.asyncio
async def test_rounds_are_stored_while_every_default_worker_thread_is_stuck(
    backend: Backend, sqlite_url: str
) -> None:
    probe = probe_settings(backend.url, users=2, healthz="off")
    settings = Settings(store=StoreSettings(url=sqlite_url), probes=(probe,))
    loop = asyncio.get_running_loop()
    release = threading.Event()
    # Every thread of the loop's default executor blocked, as slow probes' calls would.
    stuck = [loop.run_in_executor(None, release.wait) for _ in range(64)]
    try:
        with ResultStore.open(sqlite_url) as store:
            scheduler = ProbeScheduler(settings, store, SECRET, runner="chaos")
            try:
                measured = await asyncio.wait_for(scheduler.run_probe(probe), 60)
            finally:
                await scheduler.stop()
            assert store.round(measured.run_id) == measured
    finally:
        release.set()
        await asyncio.gather(*stuck)


async def _until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_a_round_stopped_while_its_save_waits_is_stored_once_and_no_error_logged(
    backend: Backend, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``stop()`` cancels a round whose save waits on a lock; the save still lands from the
    store's thread, so stop's last flush must not save it again (seen with four runners
    under load: a duplicate-key ERROR and a spilled copy of a stored round)."""
    caplog.set_level(logging.INFO, logger="slawatch")
    probe = probe_settings(backend.url, users=1, healthz="off")
    settings = Settings(store=StoreSettings(url=sqlite_url), probes=(probe,))
    store = ResultStore.open(sqlite_url, busy_timeout_ms=100)
    store.lock_wait_s = 60.0  # as `run` does ([store] lock_wait): the save waits, logged
    scheduler = ProbeScheduler(settings, store, SECRET, runner="chaos")
    with contextlib.ExitStack() as lock:
        lock.enter_context(hold_write_lock(sqlite_url))
        measuring = asyncio.create_task(scheduler.run_probe(probe))
        await _until(lambda: any("again in" in r.getMessage() for r in caplog.records), 60)
        stopping = asyncio.create_task(scheduler.stop())
        await _until(measuring.done)  # cancelled; its save still waits in the store's thread
    await stopping  # the lock is gone: the waiting save lands, then stop's last flush
    stored = store.rounds_between(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    store.close()
    assert len(stored) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    acknowledged = [r for r in caplog.records if r.getMessage().startswith("stored round")]
    assert len(acknowledged) == 1
    assert not any(Path(sqlite_url.removeprefix("sqlite:///")).parent.glob("*.spill.jsonl"))
