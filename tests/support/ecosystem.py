"""Real Prometheus and Alertmanager processes on loopback, for the ecosystem tests.

Each gets a free port, a temporary directory for its storage and a minimal
config; tests wait for ``/-/ready`` and for the condition they check, always
with a deadline, never for a fixed time.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

PROMETHEUS = Path("/usr/bin/prometheus")
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Call ``check`` until it returns something other than None (or raise at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (OSError, urllib.error.URLError, ValueError):
            value = None
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)  # polling interval of a condition with a deadline


@contextmanager
def _process(argv: list[str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: _ready(ready_url, proc), f"{argv[0]} to be ready", 60)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ready(url: str, proc: subprocess.Popen[bytes]) -> bool | None:
    if proc.poll() is not None:
        raise AssertionError(f"{proc.args!r} exited with {proc.returncode}")
    with urllib.request.urlopen(url, timeout=5) as reply:
        return True if reply.status == 200 else None


@contextmanager
def prometheus(tmp: Path, scrape_port: int) -> Iterator[str]:
    """A Prometheus scraping ``127.0.0.1:scrape_port`` every second; yields its base URL."""
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: slawatch\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{scrape_port}']\n"
    )
    argv = [
        str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with _process(argv, f"{base}/-/ready", tmp / "prometheus.log"):
        yield base


def query(base: str, promql: str) -> list[dict[str, Any]]:
    """The result vector of an instant query through ``/api/v1/query``."""
    reply = get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert reply["status"] == "success", reply
    return list(reply["data"]["result"])


@contextmanager
def alertmanager(tmp: Path) -> Iterator[str]:
    """An Alertmanager with one do-nothing receiver; yields its base URL."""
    port, cluster = free_port(), free_port()
    config = tmp / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: nobody\n  group_wait: 1s\n  group_interval: 1s\n"
        "receivers:\n  - name: nobody\n"
    )
    argv = [
        str(ALERTMANAGER), f"--config.file={config}", f"--storage.path={tmp / 'am'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--cluster.listen-address=127.0.0.1:{cluster}",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with _process(argv, f"{base}/-/ready", tmp / "alertmanager.log"):
        yield base
