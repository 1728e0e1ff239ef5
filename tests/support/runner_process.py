"""``slawatch run`` as real child processes, with their log lines read as they come.

A reader thread per process collects stderr; tests wait on a condition over
the collected lines (with a deadline), never for a fixed time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.backend_process import SECRET

SLAWATCH = Path(sys.executable).parent / "slawatch"
STORED = re.compile(r"stored round ([0-9a-f]{32}) ")
_changed = threading.Condition()


def probe_config(target: str, *, probes: int = 1, every: str = "3s") -> str:
    """Small, fast probes: one user, no memory, auth or DB side checks."""
    return "".join(
        f'[[probes]]\nname = "p{i}"\ntarget = "{target}"\nusers = 1\nevery = "{every}"\n'
        'timeout = "2500ms"\nsession_timeout = "500ms"\nhealthz = "off"\n'
        "bad_token_check = false\ndb_check = false\n"
        for i in range(probes)
    )


@dataclass
class Runner:
    """One ``slawatch run`` process and every line it has written to stderr."""

    label: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> list[str]:
        """Run ids the process logged as stored."""
        return [m.group(1) for line in list(self.lines) if (m := STORED.search(line))]

    def errors(self) -> list[str]:
        return [line for line in list(self.lines) if " ERROR " in line or "Traceback" in line]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_runner(
    config: Path, label: str, db: str, *, ha: bool = False, sigint_ignored: bool = False
) -> Runner:
    """``sigint_ignored``: started as a shell starts a background job (SIGINT ignored)."""
    argv = [str(SLAWATCH), "run", "--config", str(config), "--runner", label, "--db", db]
    if ha:
        argv.append("--ha")
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    env.pop("SLAWATCH_JWT_SECRET_FILE", None)
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=ignore)
    runner = Runner(label, process)
    threading.Thread(target=_read, args=(runner,), daemon=True).start()
    return runner


def _read(runner: Runner) -> None:
    assert runner.process.stderr is not None
    for line in runner.process.stderr:
        with _changed:
            runner.lines.append(line)
            _changed.notify_all()
    runner.process.stderr.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 60, what: str = "") -> None:
    """Until ``condition`` holds: re-checked on every new log line and every 0.2 s."""
    deadline = time.monotonic() + timeout_s
    with _changed:
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what or condition}")
            _changed.wait(timeout=min(left, 0.2))
