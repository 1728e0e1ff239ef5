"""`python -m backend` as a process: the ready line, signals, exit codes, start-up errors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from backend.__main__ import main
from backend.auth import issue_token

SECRET = "test-secret-" + "x" * 64
READY = re.compile(r"^slawatch-backend listening on ws://127\.0\.0\.1:(\d+)/ws pid=(\d+)$")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    env.update(extra)
    return env


@asynccontextmanager
async def backend_process(
    tmp_path: Path, *flags: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """Start `python -m backend --port 0`; yield (process, port) once its ready line is read."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend",
        "--port",
        "0",
        "--db",
        str(tmp_path / "proc.db"),
        "--step-delay-ms",
        "0",
        *flags,
        env=_env(SLAWATCH_JWT_SECRET=SECRET) if env is None else env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            line = (await proc.stdout.readline()).decode().rstrip("\n")
        match = READY.match(line)
        assert match, line
        assert int(match.group(2)) == proc.pid
        yield proc, int(match.group(1))
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("flags", "signum", "code", "reason"),
    [
        ((), signal.SIGTERM, 1001, "server shutting down"),
        ((), signal.SIGINT, 1001, "server shutting down"),
        (("--restart-code",), signal.SIGTERM, 1012, "server restarting"),
    ],
)
async def test_signal_closes_sessions_and_exits_zero(
    tmp_path: Path, flags: tuple[str, ...], signum: int, code: int, reason: str
) -> None:
    async with backend_process(tmp_path, *flags) as (proc, port):
        token = issue_token(SECRET, "alice")
        async with connect(
            f"ws://127.0.0.1:{port}/ws",
            proxy=None,
            additional_headers={"Authorization": f"Bearer {token}"},
        ) as ws:
            await ws.send(json.dumps({"type": "create_thread", "id": "t"}))
            assert json.loads(await ws.recv())["type"] == "thread_created"
            proc.send_signal(signum)
            with pytest.raises(ConnectionClosed) as caught:
                async with asyncio.timeout(20):
                    await ws.recv()
            assert caught.value.rcvd is not None
            assert (caught.value.rcvd.code, caught.value.rcvd.reason) == (code, reason)
        async with asyncio.timeout(20):
            assert await proc.wait() == 0


@pytest.mark.asyncio
async def test_without_a_secret_it_generates_one_and_says_how_to_mint_tokens(
    tmp_path: Path,
) -> None:
    async with backend_process(tmp_path, env=_env()) as (proc, _port):
        proc.send_signal(signal.SIGTERM)
        _, stderr = await proc.communicate()
    assert proc.returncode == 0
    export = re.search(r"export SLAWATCH_JWT_SECRET=(\S+)", stderr.decode())
    assert export is not None and len(export.group(1)) >= 32
    assert "slawatch token --user NAME" in stderr.decode()


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (
            (),
            {"SLAWATCH_JWT_SECRET": "short"},
            "slawatch-backend: SLAWATCH_JWT_SECRET must be at least 32 bytes (got 5)",
        ),
        (
            ("--fault", "close_1011=lots"),
            {"SLAWATCH_JWT_SECRET": SECRET},
            "slawatch-backend: close_1011: expected a number, got 'lots'",
        ),
        (
            ("--jwt-alg", "RS256"),
            {"SLAWATCH_JWT_SECRET": SECRET},
            "slawatch-backend: --jwt-alg RS256 needs --jwt-public-key FILE",
        ),
        (
            ("--jwt-public-key", "/nonexistent.pem"),
            {"SLAWATCH_JWT_SECRET": SECRET},
            "slawatch-backend: --jwt-public-key needs --jwt-alg RS256 or ES256",
        ),
        (
            ("--jwt-alg", "ES256", "--jwt-public-key", "/nonexistent.pem"),
            {},
            "slawatch-backend: cannot read the public key file /nonexistent.pem: No such file",
        ),
        (
            ("--jwt-leeway", "60"),
            {"SLAWATCH_JWT_SECRET": SECRET},
            "slawatch-backend: jwt leeway must be between 0 and 30 seconds",
        ),
        (
            ("--max-connections", "0"),
            {"SLAWATCH_JWT_SECRET": SECRET},
            "slawatch-backend: max_connections: must be at least 1",
        ),
        (
            ("--max-message-bytes", "0"),
            {"SLAWATCH_JWT_SECRET": SECRET},
            "slawatch-backend: max_message_bytes: must be at least 1",
        ),
    ],
)
def test_bad_configuration_exits_2_with_one_clear_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
    env: dict[str, str],
    message: str,
) -> None:
    argv = ["--port", "0", "--db", str(tmp_path / "x.db"), *flags]
    assert main(argv, env) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1


@pytest.mark.asyncio
async def test_bad_configuration_as_a_process_exits_2(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend",
        "--db",
        str(tmp_path / "x.db"),
        env=_env(SLAWATCH_JWT_SECRET="short"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert (proc.returncode, stdout) == (2, b"")
    assert stderr.decode().startswith("slawatch-backend: SLAWATCH_JWT_SECRET must be at least")
