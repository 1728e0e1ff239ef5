"""Memory sources (the target's /healthz, a local process) and the probe's tokens."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import jwt
import pytest

from probes.records import MemorySample
from probes.target.memory import HealthzMemory, ProcessMemory, sample_memory
from probes.target.tokens import bad_token, mint_token

if TYPE_CHECKING:
    from tests.probes_wire.conftest import FaultyServer

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.asyncio
async def test_healthz_memory_reads_rss_bytes_in_mb(server: FaultyServer) -> None:
    assert await HealthzMemory(server.healthz).rss_mb() == 200.5


@pytest.mark.asyncio
async def test_healthz_memory_is_none_when_unreachable_or_not_healthz(
    server: FaultyServer, down_url: str
) -> None:
    down = down_url.replace("ws://", "http://").replace("/ws", "/healthz")
    assert await HealthzMemory(down).rss_mb() is None
    assert await HealthzMemory(server.healthz.replace("/healthz", "/nothing")).rss_mb() is None


@pytest.mark.asyncio
async def test_process_memory_reads_a_live_process_and_none_for_a_gone_one() -> None:
    assert (await ProcessMemory(os.getpid()).rss_mb() or 0) > 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert await ProcessMemory(child.pid).rss_mb() is None


@pytest.mark.asyncio
async def test_sample_memory_takes_a_baseline_and_an_after_sample(server: FaultyServer) -> None:
    stop, started = asyncio.Event(), asyncio.Event()
    stop.set()
    samples = await sample_memory(
        HealthzMemory(server.healthz), 10.0, stop, started=started, now=lambda: T0
    )
    assert samples == (MemorySample(T0, 200.5), MemorySample(T0, 200.5))
    assert started.is_set()


@pytest.mark.asyncio
async def test_sample_memory_samples_until_stopped(server: FaultyServer) -> None:
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        sample_memory(HealthzMemory(server.healthz), 0.01, stop, started=started)
    )
    await started.wait()
    server.rss_bytes += 3 * 1024 * 1024
    stop.set()
    samples = await task
    assert samples[0].rss_mb == 200.5 and samples[-1].rss_mb == 203.5


@pytest.mark.asyncio
async def test_sample_memory_gives_nothing_without_a_baseline(down_url: str) -> None:
    stop = asyncio.Event()
    stop.set()
    down = down_url.replace("ws://", "http://").replace("/ws", "/healthz")
    assert await sample_memory(HealthzMemory(down), 0.01, stop) == ()


SECRET = "token-tests-secret-0123456789abcdefghij"


def test_mint_token_carries_the_protocol_claims() -> None:
    token = mint_token(SECRET, "alice", now=1_700_000_000.7, ttl_s=600.0)
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="agent-chat", options={"verify_exp": False}
    )
    assert claims == {
        "sub": "alice",
        "iat": 1_700_000_000,
        "exp": 1_700_000_600,
        "aud": "agent-chat",
    }
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_mint_token_takes_another_audience() -> None:
    token = mint_token(SECRET, "bob", audience="other", now=time.time())
    assert jwt.decode(token, SECRET, algorithms=["HS256"], audience="other")["aud"] == "other"


def test_bad_token_is_well_formed_but_wrongly_signed() -> None:
    now = time.time()
    token = bad_token("alice", now=now)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], audience="agent-chat")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["aud"], claims["exp"] > now) == ("alice", "agent-chat", True)
    assert bad_token("alice", now=now) != token  # a fresh secret each time
