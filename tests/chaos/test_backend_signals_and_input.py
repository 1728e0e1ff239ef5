"""Chaos against the real backend process: what is stored matches what happened.

- SIGKILL mid-round: every session that was mid-run is stored with 1006 (no
  close frame) and nothing is stored as ok;
- SIGTERM mid-round: the backend closes each session with 1001 "server
  shutting down", and that is what is stored (never 1006, never ok);
- hostile handshake input (an over-long header line, too many headers, a
  huge body, a frame over the size limit): each is refused, nothing logs a
  traceback, and the backend keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from backend.auth import issue_token
from probes.records import RoundResult
from probes.results import ResultStore
from tests.support import probing
from tests.support.backend_process import SECRET, Backend, start_backends, stop_backends

USERS = 3


def _health(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        return dict(json.load(response))


async def _signal_mid_round(backend: Backend, signum: int) -> RoundResult:
    """Start a round, wait until all its sessions are connected, then signal the backend."""
    task = asyncio.create_task(
        probing.probe_round(
            backend.url,
            users=USERS,
            timeout_s=30.0,
            session_timeout_s=20.0,
            bad_token_check=False,
            db_check=False,
            healthz="off",
        )
    )
    async with asyncio.timeout(30):
        while (await asyncio.to_thread(_health, backend.http))["connections"] < USERS:
            await asyncio.sleep(0.05)  # polling the server's own count, not a fixed wait
    os.kill(backend.process.pid, signum)
    return await task


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("signum", "code", "reason"),
    [(signal.SIGKILL, 1006, ""), (signal.SIGTERM, 1001, "server shutting down")],
    ids=["sigkill", "sigterm"],
)
async def test_a_backend_signalled_mid_round_is_stored_as_it_happened(
    tmp_path: Path, signum: int, code: int, reason: str
) -> None:
    [backend] = start_backends(tmp_path, (), extra=("--step-delay-ms", "3000"))
    try:
        result = await _signal_mid_round(backend, signum)
    finally:
        stop_backends([backend])
    with ResultStore.open(f"sqlite:///{tmp_path / 'results.db'}") as store:
        store.save_round(result)
        stored = store.round(result.run_id)
    assert stored is not None and stored.status == "failed"
    assert len(stored.sessions) == USERS
    for session in stored.sessions:
        assert (session.close_code, session.close_reason) == (code, reason)
        assert session.outcome != "ok"
        assert session.completion_ms is None, "no run completed"
        assert "agent_completed" not in {e.type for e in session.events}


def _raw(port: int, data: bytes) -> bytes:
    """Send `data` on a raw socket and read until the server closes (10 s at most)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
        except OSError:
            return b""
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    return b"".join(chunks)


HEAD = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("data", "status"),
    [
        (HEAD + b"X-Long: " + b"a" * 20_000 + b"\r\n\r\n", b"431"),
        (HEAD + b"".join(b"X-%d: y\r\n" % i for i in range(300)) + b"\r\n", b"431"),
        (b"PUT /admin/faults HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n", b"413"),
        (b"PUT /admin/faults HTTP/1.1\r\nX: " + b"b" * 20_000, b"431"),
    ],
    ids=["long-header", "many-headers", "huge-body", "huge-plain-head"],
)
async def test_hostile_handshake_input_is_refused_and_serving_goes_on(
    tmp_path: Path, data: bytes, status: bytes
) -> None:
    log_path = tmp_path / "backend.log"
    with log_path.open("w") as log_file:
        [backend] = start_backends(tmp_path, (), extra=("--log-level", "INFO"), stderr=log_file)
        try:
            port = int(backend.url.rsplit(":", 1)[1].split("/")[0])
            answer = await asyncio.to_thread(_raw, port, data)
            assert answer.split(b" ")[1:2] == [status], answer[:200]
            head, _, body = answer.partition(b"\r\n\r\n")
            assert b"Content-Type: application/json" in head
            assert json.loads(body)["error"] == "bad_request"
            token = issue_token(SECRET, "after")
            async with connect(
                backend.url, proxy=None, additional_headers={"Authorization": f"Bearer {token}"}
            ) as ws:
                await ws.send(json.dumps({"type": "create_thread", "id": "t"}))
                assert json.loads(await ws.recv())["type"] == "thread_created"
        finally:
            stop_backends([backend])
    assert "Traceback" not in log_path.read_text()


@pytest.mark.asyncio
async def test_a_frame_over_the_limit_closes_1009_and_others_go_on(tmp_path: Path) -> None:
    [backend] = start_backends(tmp_path, (), extra=("--max-message-bytes", "1024"))
    try:
        token = issue_token(SECRET, "big")
        headers = {"Authorization": f"Bearer {token}"}
        async with connect(backend.url, proxy=None, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "chat", "id": "c", "text": "x" * 5000}))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert (await asyncio.to_thread(_health, backend.http))["status"] == "ok"
    finally:
        stop_backends([backend])
