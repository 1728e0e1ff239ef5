"""`slawatch up`: backend child + scheduler; a dead backend is restarted and recorded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from probes.records import Filters
from probes.results import ResultStore
from tests.cli.conftest import SLAWATCH

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], T | None], timeout_s: float = 60) -> T:
    """Poll ``check`` until it returns something truthy (a condition, not a fixed wait)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def health(port: int) -> dict[str, int] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.load(r)
    except OSError:
        return None


def test_up_runs_probes_restarts_a_dead_backend_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    store_url = f"sqlite:///{tmp_path / 'results.db'}"
    config = tmp_path / "slawatch.toml"
    config.write_text(
        f'[store]\nurl = "{store_url}"\n'
        f'[backend]\nport = {port}\ndb = "{tmp_path / "backend.db"}"\nstep_delay_ms = 5\n'
        f'[[probes]]\ntarget = "ws://127.0.0.1:{port}/ws"\nusers = 2\nevery = "4s"\n'
        'timeout = "3500ms"\nsession_timeout = "1500ms"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    up = subprocess.Popen(
        [str(SLAWATCH), "up", "--no-dashboard", "--config", str(config)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = eventually(lambda: health(port))
        with ResultStore.open(store_url) as store:
            since = datetime.now(UTC) - timedelta(minutes=1)
            eventually(
                lambda: [
                    r
                    for r in store.rounds_between(since, datetime.now(UTC), Filters())
                    if r["status"] == "passed"
                ]
            )
            os.kill(first["pid"], signal.SIGKILL)
            notes = eventually(lambda: store.annotations_between(since, datetime.now(UTC)))
            restarted = eventually(lambda: (h := health(port)) and h["pid"] != first["pid"] and h)
            assert notes[0].kind == "incident"
            assert f"pid {first['pid']}" in notes[0].text
            assert restarted["status"] == "ok"
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0
    finally:
        if up.poll() is None:  # a failed assertion above: still let it stop its children
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.kill()
        out, err = up.communicate()
    assert f"ws://127.0.0.1:{port}/ws" in out
    assert health(port) is None, "the backend outlived slawatch up"
    assert "Traceback" not in err
