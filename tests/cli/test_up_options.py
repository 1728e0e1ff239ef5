"""`slawatch up`'s ports and secrets: flags over config, the probe follows the backend,
the secrets come from the environment or a file only this user can read."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probes.records import Filters
from probes.results import ResultStore
from tests.cli.conftest import SLAWATCH, slawatch
from tests.cli.test_up import eventually, free_port, health

ADMIN = "admin-token-from-the-environment-0123"


def _stop(up: subprocess.Popen[str]) -> tuple[str, str]:
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
    return up.communicate()


def test_up_takes_the_backend_port_flag_and_shares_its_secrets(tmp_path: Path) -> None:
    port = free_port()
    store_url = f"sqlite:///{tmp_path / 'results.db'}"
    config = tmp_path / "slawatch.toml"
    # [backend] port says one port, the flag another: the flag wins, the probe follows it.
    config.write_text(
        f'[backend]\nport = {free_port()}\ndb = "{tmp_path / "backend.db"}"\nstep_delay_ms = 1\n'
        '[[probes]]\nusers = 1\nevery = "4s"\ntimeout = "3500ms"\nsession_timeout = "1500ms"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    env["SLAWATCH_ADMIN_TOKEN"] = ADMIN  # the JWT secret is left to `up` to make
    argv = [str(SLAWATCH), "up", "--no-dashboard", "--config", str(config), "--db", store_url]
    up = subprocess.Popen(
        [*argv, "--backend-port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(lambda: health(port))
        with ResultStore.open(store_url) as store:
            since = datetime.now(UTC) - timedelta(minutes=1)
            [first, *_] = eventually(
                lambda: store.rounds_between(since, datetime.now(UTC), Filters())
            )
        assert first["target"] == f"ws://127.0.0.1:{port}/ws"
        assert first["status"] == "passed"
        secret_file = tmp_path / "data" / "secrets" / "jwt-secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
        assert not (tmp_path / "data" / "secrets" / "admin-token").exists()  # from the env
        gate = slawatch(
            "probe", "--target", f"ws://127.0.0.1:{port}/ws", "--users", "1", "--db",
            f"sqlite:///{tmp_path / 'gate.db'}", "--gate",
            env={"SLAWATCH_JWT_SECRET": "", "SLAWATCH_JWT_SECRET_FILE": str(secret_file)},
        )  # fmt: skip
        assert "session-success      100.00 %" in gate.stdout, gate.stdout + gate.stderr
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/admin/faults",
            data=b'{"close_1011": 0.5}',
            method="PUT",
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
    finally:
        out, err = _stop(up)
    assert up.returncode == 0, err
    assert f"secrets    token secret in {Path('data/secrets/jwt-secret')}" in out
    assert secret_file.read_text().strip() not in out + err  # never printed
    assert ADMIN not in out + err
    assert "Traceback" not in err


def test_a_port_in_use_names_the_flag_and_the_config_key(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = slawatch(
            "up", "--no-dashboard", "--backend-port", str(port), "--db",
            f"sqlite:///{tmp_path / 'r.db'}", cwd=tmp_path, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"127.0.0.1:{port} is in use" in done.stderr
    assert "--backend-port or [backend] port" in done.stderr
    assert "Traceback" not in done.stderr
