"""``slawatch exporter`` as a user runs it: the console script, a real port, clean errors."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.scrape import samples, scrape_text, total

SLAWATCH = Path(sys.executable).parent / "slawatch"
LISTENING = re.compile(r"metrics\s+http://127\.0\.0\.1:(\d+)/metrics")


@pytest.mark.parametrize("listen", ["9464", "127.0.0.1:", "127.0.0.1:99999", ":9464"])
def test_a_bad_listen_address_names_the_flag_and_exits_2(tmp_path: Path, listen: str) -> None:
    done = subprocess.run(
        [str(SLAWATCH), "exporter", "--db", f"sqlite:///{tmp_path / 's.db'}", "--listen", listen],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"--listen: expected HOST:PORT such as 127.0.0.1:9464, got {listen!r}" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_exporter_serves_the_store_until_interrupted(tmp_path: Path) -> None:
    argv = [str(SLAWATCH), "exporter", "--db", f"sqlite:///{tmp_path / 's.db'}"]
    proc = subprocess.Popen([*argv, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        port = _port(proc)
        page = samples(scrape_text(port))
        assert total(page, "slawatch_store_up") == 1
        assert total(page, "slawatch_ws_sessions_total") == 0  # an empty store: no series yet
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        assert proc.stderr is not None
        rest = proc.stderr.read()
        proc.stderr.close()
    assert code == 0
    assert "Traceback" not in rest


def _port(proc: subprocess.Popen[str]) -> int:
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = proc.stderr.readline()
            if not line:
                break
            if match := LISTENING.search(line):
                return int(match.group(1))
    raise AssertionError("the exporter never said where it listens")
