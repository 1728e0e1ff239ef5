"""`slawatch up` killed with SIGKILL leaves no backend and no dashboard behind.

SIGKILL gives `up` no chance to stop its children; each must notice its
parent's death by itself (parent-death signal, parent-pid watch) and stop:
the backend through its `--parent-pid`, the Streamlit dashboard through
`probes.cli.guard`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil

from tests.cli.conftest import SLAWATCH
from tests.cli.test_up import eventually, free_port, health


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _dashboard_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read() == b"ok"
    except OSError:
        return False


def _config(tmp_path: Path, port: int, dashboard_port: int) -> Path:
    config = tmp_path / "slawatch.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "results.db"}"\n'
        f'[backend]\nport = {port}\ndb = "{tmp_path / "backend.db"}"\n'
        f"[dashboard]\nport = {dashboard_port}\n"
        f'[[probes]]\ntarget = "ws://127.0.0.1:{port}/ws"\nusers = 1\nevery = "60s"\n'
    )
    return config


def _start_up(config: Path, *flags: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    return subprocess.Popen(
        [str(SLAWATCH), "up", *flags, "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _clean_up(up: subprocess.Popen[bytes], pids: list[int]) -> None:
    if up.poll() is None:
        up.kill()
        up.wait()
    for pid in pids:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_up_leaves_no_backend_running(tmp_path: Path) -> None:
    port = free_port()
    up = _start_up(_config(tmp_path, port, free_port()), "--no-dashboard")
    pids: list[int] = []
    try:
        backend_pid = eventually(lambda: health(port))["pid"]
        pids.append(backend_pid)
        assert psutil.Process(backend_pid).ppid() == up.pid
        assert os.getpgid(backend_pid) != os.getpgid(up.pid), "its own process group"
        up.send_signal(signal.SIGKILL)
        up.wait(timeout=30)
        eventually(lambda: _gone(backend_pid), timeout_s=30)
        assert health(port) is None
    finally:
        _clean_up(up, pids)


def test_a_killed_up_leaves_no_dashboard_running(tmp_path: Path) -> None:
    port, dashboard_port = free_port(), free_port()
    up = _start_up(_config(tmp_path, port, dashboard_port))
    pids: list[int] = []
    try:
        backend_pid = eventually(lambda: health(port))["pid"]
        pids.append(backend_pid)
        eventually(lambda: _dashboard_up(dashboard_port))
        children = psutil.Process(up.pid).children()
        assert {c.pid for c in children} - {backend_pid}, "up started a dashboard child"
        pids += [c.pid for c in children]
        # every child of up: the backend and the dashboard (python -m probes.cli.guard ...)
        for child in children:
            assert child.exe() == os.path.realpath(sys.executable) or child.pid == backend_pid
            assert os.getpgid(child.pid) != os.getpgid(up.pid), "its own process group"
        up.send_signal(signal.SIGKILL)
        up.wait(timeout=30)
        for child in children:
            pid = child.pid
            eventually(lambda: _gone(pid), timeout_s=30)  # noqa: B023 (called at once)
        assert not _dashboard_up(dashboard_port)
        assert health(port) is None
    finally:
        _clean_up(up, pids)
