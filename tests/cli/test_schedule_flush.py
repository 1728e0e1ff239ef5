"""Ten probes finishing together: every round stored once and no false ERROR line."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probes.config import parse_settings
from probes.records import Filters, RoundResult
from probes.results import ResultStore
from probes.scheduling.scheduler import ProbeScheduler
from tests.support.backend_process import SECRET, start_backends, stop_backends

PROBES = 10


def ten_probes(target: str) -> str:
    return "".join(
        f'[[probes]]\nname = "p{i}"\ntarget = "{target}"\nusers = 1\nevery = "4s"\n'
        'timeout = "3500ms"\nsession_timeout = "1500ms"\nhealthz = "off"\n'
        "bad_token_check = false\ndb_check = false\n"
        for i in range(PROBES)
    )


@pytest.mark.asyncio
async def test_ten_probes_log_no_error_and_store_each_round_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    [backend] = start_backends(tmp_path, ())
    settings = parse_settings(ten_probes(backend.url))
    seen: list[RoundResult] = []
    changed = asyncio.Event()

    def on_round(result: RoundResult) -> None:
        seen.append(result)
        changed.set()

    caplog.set_level(logging.INFO, logger="slawatch")
    started = datetime.now(UTC)
    try:
        with ResultStore.open(f"sqlite:///{tmp_path / 'results.db'}") as store:
            scheduler = ProbeScheduler(settings, store, SECRET, runner="ci", on_round=on_round)
            scheduler.start()
            try:
                async with asyncio.timeout(60):
                    while len(seen) < 2 * PROBES:
                        await changed.wait()
                        changed.clear()
            finally:
                await scheduler.stop()
            stored = store.rounds_between(
                started - timedelta(seconds=5), datetime.now(UTC), Filters()
            )
    finally:
        stop_backends([backend])
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert Counter(r["run_id"] for r in stored) == Counter(r.run_id for r in seen)
    acknowledged = {
        r.getMessage().split()[2]
        for r in caplog.records
        if r.getMessage().startswith("stored round")
    }
    assert acknowledged == {r.run_id for r in seen}
    assert all(r["status"] == "passed" for r in stored)
