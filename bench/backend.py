"""Complete agent runs per second: the backend against a bare websockets server.

Starts `python -m backend` (step delay 0, its own temp database) and
`bench/bare_server.py` as subprocesses, then for each user count opens that
many connections to each, lets every user chat in a loop during windows that
alternate between the two servers (so drifting background load hits both
alike) and counts complete runs (seq 1..6, ending with agent_completed).
Prints both rates, their ratio and the machine. Usage:

    .venv/bin/python bench/backend.py [--users 1,10,100,500] [--seconds 2] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import jwt
import websockets
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + "b" * 48
READY = re.compile(rb"listening on (ws://\S+) pid=(\d+)")
CHAT_TEXT = "what is 2 + 3?"


def bearer(user: str) -> str:
    """A token the backend accepts (minted here: the bench is a client, like the probes)."""
    now = time.time()
    claims = {"sub": user, "aud": "agent-chat", "iat": int(now), "exp": now + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@dataclass(frozen=True)
class Measurement:
    """Complete runs over the measuring windows, and runs that ended any other way."""

    runs: int = 0
    failures: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0

    def __add__(self, other: Measurement) -> Measurement:
        return Measurement(
            self.runs + other.runs, self.failures + other.failures, self.seconds + other.seconds
        )


@asynccontextmanager
async def subprocess_server(*argv: str, env: dict[str, str]) -> AsyncIterator[str]:
    """Start a server process; yield its ws:// URL from its ready line."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    try:
        match = READY.search(await asyncio.wait_for(proc.stdout.readline(), 30))
        if match is None:
            raise RuntimeError(f"{argv} did not print its ready line")
        yield match.group(1).decode()
    finally:
        proc.terminate()
        await proc.wait()


async def run_one(ws: ClientConnection, ref: str, thread_id: str | None) -> bool:
    """One chat; True when its stream was complete."""
    request = {"type": "chat", "id": ref, "text": CHAT_TEXT}
    if thread_id:
        request["thread_id"] = thread_id
    await ws.send(json.dumps(request))
    expected = 1
    while True:
        event = json.loads(await ws.recv())
        if event.get("seq") != expected:
            return False
        if event["type"] == "agent_completed":
            return expected >= 6
        expected += 1


async def open_user(
    url: str, user: str, authenticated: bool
) -> tuple[ClientConnection, str | None]:
    """Connect one user; on the backend also create the thread it will chat in."""
    headers = {"Authorization": f"Bearer {bearer(user)}"} if authenticated else {}
    ws = await connect(
        url,
        proxy=None,
        compression=None,
        additional_headers=headers,
        open_timeout=60,
        max_size=2**20,
    )
    if not authenticated:
        return ws, None
    await ws.send(json.dumps({"type": "create_thread", "id": "t"}))
    return ws, json.loads(await ws.recv())["thread_id"]


async def user_loop(
    ws: ClientConnection, thread_id: str | None, deadline: float
) -> tuple[int, int]:
    """Chat until the deadline; (complete runs, failed runs)."""
    done = failed = 0
    while time.perf_counter() < deadline:
        if await run_one(ws, f"r{done + failed}", thread_id):
            done += 1
        else:
            failed += 1
    return done, failed


Users = list[tuple[ClientConnection, str | None]]


async def open_users(url: str, count: int, authenticated: bool) -> Users:
    """Connect `count` users and give each one warm-up run."""
    opened = await asyncio.gather(*(open_user(url, f"u{i}", authenticated) for i in range(count)))
    await asyncio.gather(*(run_one(ws, "warm", thread_id) for ws, thread_id in opened))
    return opened


async def window(opened: Users, seconds: float) -> Measurement:
    """Every user chats in a loop for `seconds`."""
    started = time.perf_counter()
    results = await asyncio.gather(
        *(user_loop(ws, thread_id, started + seconds) for ws, thread_id in opened)
    )
    elapsed = time.perf_counter() - started
    return Measurement(sum(r[0] for r in results), sum(r[1] for r in results), elapsed)


async def compare(backend_url: str, bare_url: str, users: int, seconds: float, rounds: int) -> None:
    """Alternate measuring windows between the two servers so load drift hits both alike."""
    ours_users = await open_users(backend_url, users, authenticated=True)
    bare_users = await open_users(bare_url, users, authenticated=False)
    ours, bare = Measurement(), Measurement()
    for _ in range(rounds):
        ours += await window(ours_users, seconds)
        bare += await window(bare_users, seconds)
    await asyncio.gather(*(ws.close() for ws, _ in (*ours_users, *bare_users)))
    print(
        f"{users:>6} {ours.rate:>15.1f} {bare.rate:>12.1f} "
        f"{ours.rate / bare.rate:>6.0%} {ours.failures + bare.failures:>7}",
        flush=True,
    )


def machine() -> str:
    """CPU model, cores, Python and websockets versions."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = f"Python {platform.python_version()}, websockets {websockets.__version__}"
    return f"{model}, {os.cpu_count()} cores, {versions}, {platform.system()} {platform.release()}"


async def main(user_counts: list[int], seconds: float, rounds: int) -> None:
    env = {**os.environ, "SLAWATCH_JWT_SECRET": SECRET}
    with tempfile.TemporaryDirectory() as tmp:
        backend_argv = (
            sys.executable,
            "-m",
            "backend",
            "--port",
            "0",
            "--db",
            f"{tmp}/bench.db",
            "--step-delay-ms",
            "0",
            "--max-connections",
            "5000",
            "--log-level",
            "ERROR",
        )
        bare_argv = (sys.executable, str(ROOT / "bench" / "bare_server.py"), "--port", "0")
        async with (
            subprocess_server(*backend_argv, env=env) as backend_url,
            subprocess_server(*bare_argv, env=env) as bare_url,
        ):
            print(f"machine: {machine()}")
            print("load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
            print(
                f"{rounds} alternating windows of {seconds:g} s per server and user count; "
                f"chat text {CHAT_TEXT!r} (one tool, six events)"
            )
            print(f"{'users':>6} {'backend runs/s':>15} {'bare runs/s':>12} {'ratio':>7} failed")
            for users in user_counts:
                await compare(backend_url, bare_url, users, seconds, rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", default="1,10,100,500", help="comma-separated user counts")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one window")
    parser.add_argument("--rounds", type=int, default=4, help="windows per server and count")
    args = parser.parse_args()
    asyncio.run(main([int(n) for n in args.users.split(",")], args.seconds, args.rounds))
