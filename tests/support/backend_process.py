"""The built-in backend as a real child process on a free loopback port.

``python -m backend --port 0`` prints ``slawatch-backend listening on ws://...``
when it is ready; tests wait for that line, never for a fixed time.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
SECRET = "slawatch-tests-secret-0123456789abcdef"  # >= 32 bytes, tests only
ADMIN_TOKEN = "slawatch-tests-admin-token"
READY = re.compile(r"listening on (ws://\S+)")
START_TIMEOUT_S = 30.0


@dataclass
class Backend:
    process: subprocess.Popen[str]
    url: str

    @property
    def http(self) -> str:
        """``http://host:port`` of the same server."""
        return self.url.replace("ws://", "http://").rsplit("/", 1)[0]


def start_backends(
    tmp: Path,
    *fault_sets: tuple[str, ...],
    extra: tuple[str, ...] = (),
    stderr: IO[str] | None = None,
) -> list[Backend]:
    """One backend per fault set, all started at once; returns when every one listens.

    ``stderr`` (an open file) receives the backends' logs; by default they are inherited.
    """
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET, SLAWATCH_ADMIN_TOKEN=ADMIN_TOKEN)
    procs = []
    for faults in fault_sets:
        argv = [
            sys.executable,
            "-m",
            "backend",
            "--port",
            "0",
            "--step-delay-ms",
            "5",
            "--db",
            str(tmp / f"backend-{uuid.uuid4().hex}.db"),
            *extra,
        ]
        for fault in faults:
            argv += ["--fault", fault]
        procs.append(
            subprocess.Popen(
                argv, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT
            )
        )
    backends = []
    deadline = time.monotonic() + START_TIMEOUT_S
    for proc, faults in zip(procs, fault_sets, strict=True):
        url = _ready_url(proc, deadline)
        if url is None:
            stop_backends([Backend(p, "") for p in procs])
            raise RuntimeError(f"backend with faults {faults} did not report listening")
        backends.append(Backend(proc, url))
    return backends


def _ready_url(proc: subprocess.Popen[str], deadline: float) -> str | None:
    """Wait for the ready line (or the process's exit, or the deadline)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                return None
            line = proc.stdout.readline()
            if not line:
                return None
            if match := READY.search(line):
                return match.group(1)
    return None


def stop_backends(backends: list[Backend]) -> None:
    """SIGTERM all at once, then wait for each (SIGKILL after 10 s)."""
    for backend in backends:
        if backend.process.poll() is None:
            backend.process.terminate()
    for backend in backends:
        try:
            backend.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            backend.process.kill()
            backend.process.wait()
        if backend.process.stdout is not None:
            backend.process.stdout.close()
