"""The scheduler against a real backend: rounds stored, deaths recorded, no silent gaps."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent

from probes.config import parse_settings
from probes.records import Filters, RoundResult
from probes.results import ResultStore
from probes.scheduling.scheduler import ProbeScheduler
from tests.support import probing
from tests.support.backend_process import SECRET, start_backends, stop_backends


def settings_for(target: str, every: str = "4s") -> str:
    return (
        f'[[probes]]\ntarget = "{target}"\nusers = 2\nevery = "{every}"\n'
        'timeout = "3500ms"\nsession_timeout = "1500ms"\n'
    )


async def until(
    condition: Callable[[], bool], changed: asyncio.Event, timeout_s: float = 60
) -> None:
    """Wait until ``condition`` holds, re-checking whenever ``changed`` is set."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await changed.wait()
            changed.clear()


@pytest.mark.asyncio
async def test_rounds_are_stored_and_the_schedule_survives_a_dead_target(tmp_path: Path) -> None:
    [backend] = start_backends(tmp_path, ())
    settings = parse_settings(settings_for(backend.url))
    seen: list[RoundResult] = []
    changed = asyncio.Event()

    def on_round(result: RoundResult) -> None:
        seen.append(result)
        changed.set()

    with ResultStore.open(f"sqlite:///{tmp_path / 'results.db'}") as store:
        scheduler = ProbeScheduler(settings, store, SECRET, runner="ci", on_round=on_round)
        scheduler.start()
        try:
            await until(lambda: any(r.status == "passed" for r in seen), changed)
            stop_backends([backend])
            mark = len(seen)
            await until(lambda: len(seen) > mark + 1, changed)
        finally:
            stop_backends([backend])
            await scheduler.stop()
        after_death = seen[mark + 1]
        # unreachable: an error round (a visible gap in coverage), never a silent one
        assert after_death.status == "error"
        assert after_death.reason.startswith("target unreachable: ")
        assert {s.reason for s in after_death.sessions} == {"connect_error"}
        stored = store.rounds_between(
            seen[0].started_at - timedelta(seconds=1), datetime.now(UTC), Filters()
        )
        assert {r["run_id"] for r in stored} == {r.run_id for r in seen}
        assert all(r["runner"] == "ci" for r in stored)


@pytest.mark.asyncio
async def test_a_slot_that_cannot_run_is_stored_as_skipped(tmp_path: Path) -> None:
    settings = parse_settings(settings_for("ws://127.0.0.1:9/ws", every="1h"))
    changed = asyncio.Event()
    with ResultStore.open(f"sqlite:///{tmp_path / 'results.db'}") as store:
        scheduler = ProbeScheduler(
            settings, store, SECRET, runner="ci", on_round=lambda _r: changed.set()
        )
        slot = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        # What APScheduler emits when a slot comes while the previous round still runs.
        scheduler.on_slot_not_run(
            JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, "probe:default", "default", [slot])
        )
        await asyncio.wait_for(changed.wait(), 30)
        [row] = store.rounds_between(slot, slot + timedelta(seconds=1), Filters())
    assert row["status"] == "skipped"
    assert "previous round still running" in row["reason"]


@pytest.mark.asyncio
async def test_a_backend_killed_mid_round_gives_1006(tmp_path: Path) -> None:
    [backend] = start_backends(tmp_path, (), extra=("--step-delay-ms", "2000"))
    try:
        task = asyncio.create_task(
            probing.probe_round(
                backend.url,
                users=3,
                timeout_s=30.0,
                session_timeout_s=20.0,
                bad_token_check=False,
                db_check=False,
            )
        )
        async with asyncio.timeout(30):
            while (health := await asyncio.to_thread(_health, backend.http))["connections"] < 3:
                await asyncio.sleep(0.05)  # polling the server's own count, not a fixed wait
        os.kill(health["pid"], signal.SIGKILL)
        result = await task
    finally:
        stop_backends([backend])
    assert [(s.close_code, s.reason) for s in result.sessions] == [(1006, "closed_abnormally")] * 3
    assert result.status == "failed"


def _health(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        return json.load(response)
