"""Scheduler overrun, for real: `slawatch run` frozen (SIGSTOP) across several slots.

While the process is stopped no round can run; when it resumes, every slot
it could not run must be in the store as a `skipped` round with its reason,
so the history has no silent gap: consecutive rounds are never more than
one interval (plus the scheduler's jitter) apart.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probes.records import Filters
from probes.results import ResultStore
from tests.cli.conftest import SLAWATCH
from tests.cli.test_up import eventually
from tests.support.backend_process import SECRET, start_backends, stop_backends

EVERY_S = 3.0
PAUSE_S = 4 * EVERY_S  # the fault: the process is frozen this long


def test_slots_a_frozen_scheduler_could_not_run_are_stored_as_skipped(tmp_path: Path) -> None:
    [backend] = start_backends(tmp_path, ())
    url = f"sqlite:///{tmp_path / 'results.db'}"
    config = tmp_path / "slawatch.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n'
        f'[[probes]]\ntarget = "{backend.url}"\nusers = 1\nevery = "{EVERY_S:g}s"\n'
        'timeout = "2900ms"\nsession_timeout = "900ms"\n'
    )
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    run = subprocess.Popen(
        [str(SLAWATCH), "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    since = datetime.now(UTC) - timedelta(seconds=1)
    try:
        with ResultStore.open(url) as store:

            def rounds() -> list[dict[str, object]]:
                return store.rounds_between(since, datetime.now(UTC), Filters())

            eventually(lambda: [r for r in rounds() if r["status"] == "passed"], timeout_s=60)
            run.send_signal(signal.SIGSTOP)
            time.sleep(PAUSE_S)  # the injected fault's duration, not a synchronisation
            run.send_signal(signal.SIGCONT)
            eventually(lambda: [r for r in rounds() if r["status"] == "skipped"], timeout_s=30)
            resumed = datetime.now(UTC)
            eventually(lambda: [r for r in rounds() if str(r["started_at"]) > resumed.isoformat()])
            stored = sorted(rounds(), key=lambda r: str(r["started_at"]))
    finally:
        run.send_signal(signal.SIGCONT)
        run.terminate()
        _, err = run.communicate(timeout=60)
        stop_backends([backend])
    assert "Traceback" not in err
    skipped = [r for r in stored if r["status"] == "skipped"]
    assert len(skipped) >= 2, "the frozen slots"
    assert all("missed" in str(r["reason"]) or "still running" in str(r["reason"]) for r in skipped)
    starts = [datetime.fromisoformat(str(r["started_at"])) for r in stored]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert max(gaps) < 1.5 * EVERY_S, f"a silent gap: {gaps}"
