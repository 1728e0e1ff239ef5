"""`slawatch up` killed with SIGKILL leaves no backend behind.

SIGKILL gives `up` no chance to stop its child; the backend must notice its
parent's death by itself (parent-death signal, parent-pid watch) and stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psutil

from tests.cli.conftest import SLAWATCH
from tests.cli.test_up import eventually, free_port, health


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_killed_up_leaves_no_backend_running(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "slawatch.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "results.db"}"\n'
        f'[backend]\nport = {port}\ndb = "{tmp_path / "backend.db"}"\n'
        f'[[probes]]\ntarget = "ws://127.0.0.1:{port}/ws"\nusers = 1\nevery = "60s"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    up = subprocess.Popen(
        [str(SLAWATCH), "up", "--no-dashboard", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    backend_pid = None
    try:
        backend_pid = eventually(lambda: health(port))["pid"]
        assert psutil.Process(backend_pid).ppid() == up.pid
        assert os.getpgid(backend_pid) != os.getpgid(up.pid), "its own process group"
        up.send_signal(signal.SIGKILL)
        up.wait(timeout=30)
        eventually(lambda: _gone(backend_pid), timeout_s=30)
        assert health(port) is None
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        if backend_pid is not None and not _gone(backend_pid):
            os.kill(backend_pid, signal.SIGKILL)
