"""The built-in backend's CPU per chat in a real probe round, and where it goes.

Starts `python -m backend` (its own temp database, default step delay) as a
subprocess, runs one warm-up round and then `--rounds` real probe rounds
(`probes.target.round.run_round`, the probe's default message: a calculator
and a `search_messages` tool) of `--users` users, and prints per round the
wall time, the outcome and the backend's CPU (user + system, psutil) per
session. With `--profile`, py-spy samples the backend during one more round
(all threads, idle included, so lock waits show) and the bench prints which
share of the samples is the database layer (backend.store, backend.database,
SQLAlchemy, sqlite3), waits on the write lock and `search_messages`. Usage:

    .venv/bin/python bench/backend_cost.py [--users 1000] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import psutil

from probes.config import ProbeSettings
from probes.scheduling.scheduler import memory_source
from probes.target.round import run_round

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + "c" * 48
READY = re.compile(r"listening on (ws://\S+) pid=(\d+)")
RATE = 200  # py-spy samples per second
DB_FILES = ("backend/store.py", "backend/database.py", "sqlalchemy/", "sqlite3/")


@asynccontextmanager
async def backend_process(*flags: str, tree: Path = ROOT) -> AsyncIterator[tuple[int, str]]:
    """`python -m backend --port 0 FLAGS` on a temp database: yields (pid, ws URL).

    `-m` imports `backend` from the working directory first: `tree` runs another
    checkout's backend (a baseline) with this environment."""
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "backend", "--port", "0", "--db", f"{tmp}/backend.db"]
        proc = subprocess.Popen(
            [*argv, *flags], env=env, cwd=tree, stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            match = READY.search(proc.stdout.readline())
            if match is None:
                raise RuntimeError("the backend did not print its ready line")
            yield proc.pid, match.group(1)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


async def one_round(url: str, users: int) -> tuple[float, str, int]:
    """(wall seconds, round status, sessions ok) of one real probe round."""
    probe = ProbeSettings(
        target=url, users=users, every_s=300, timeout_s=120, session_timeout_s=100
    )
    started = time.perf_counter()
    result = await run_round(
        probe,
        run_id=uuid.uuid4().hex,
        runner="bench",
        secret=SECRET,
        memory=memory_source(probe),
        now=lambda: datetime.now(UTC),
    )
    ok = sum(s.outcome == "ok" for s in result.sessions)
    return time.perf_counter() - started, result.status, ok


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


IDLE_LEAVES = ("_worker (", "select (", "wait (", "_wait_for_tstate_lock (")


def profile_shares(raw: Path, rate: int, users: int) -> dict[str, float]:
    """From py-spy's collapsed samples (all threads, idle too) of one round.

    `db_share`: percent of busy samples (not an idle pool thread, not the loop
    waiting for I/O) inside the DB layer; `db_ms`: those samples as thread-ms
    per chat; `lock_ms`: thread-ms per chat waiting on the store's write lock
    (a `Store.write` leaf, i.e. blocked in `Lock.acquire`); `search_share`:
    percent of busy samples under `search_messages`.
    """
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        weight = int(n)
        if leaf.startswith("Store.write (") or leaf.startswith("write (backend/store.py"):
            counts["lock"] += weight
            continue
        if leaf.startswith(IDLE_LEAVES) and not any(f in stack for f in DB_FILES):
            continue
        counts["busy"] += weight
        if any(f in stack for f in DB_FILES):
            counts["db"] += weight
        if "search_messages" in stack:
            counts["search"] += weight
    busy = counts["busy"] or 1
    per_chat = 1000.0 / rate / users
    return {
        "db_share": 100.0 * counts["db"] / busy,
        "db_ms": counts["db"] * per_chat,
        "lock_ms": counts["lock"] * per_chat,
        "search_share": 100.0 * counts["search"] / busy,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--step-delay-ms", type=float, default=20.0)
    parser.add_argument("--profile", action="store_true", help="py-spy one more round")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    flags = ("--step-delay-ms", f"{args.step_delay_ms:g}", "--max-connections", "5000")
    async with backend_process(*flags) as (pid, url):
        await one_round(url, min(args.users, 100))  # warm-up
        print("| round | users | wall s | status | ok | backend CPU ms/session |")
        print("| ---: | ---: | ---: | --- | ---: | ---: |")
        for index in range(1, args.rounds + 1):
            before = cpu_s(pid)
            wall, status, ok = await one_round(url, args.users)
            per = 1000.0 * (cpu_s(pid) - before) / args.users
            print(f"| {index} | {args.users} | {wall:.2f} | {status} | {ok} | {per:.2f} |")
        if args.profile:
            with tempfile.TemporaryDirectory() as tmp:
                await profiled_round(pid, url, args.users, Path(tmp))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


async def profiled_round(pid: int, url: str, users: int, tmp: Path) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    raw = tmp / "profile.txt"
    argv = [spy, "record", "--pid", str(pid), "--format", "raw", "--idle", "--threads"]
    sampler = subprocess.Popen(
        [*argv, "--rate", str(RATE), "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    await asyncio.sleep(1.0)  # py-spy attaches
    await one_round(url, users)
    sampler.send_signal(2)
    sampler.wait(timeout=60)
    if keep := os.environ.get("KEEP_PROFILE"):
        shutil.copy(raw, keep)
    shares = profile_shares(raw, RATE, users)
    print(
        f"profile: DB layer {shares['db_share']:.0f} % of busy samples, "
        f"{shares['db_ms']:.2f} thread-ms per chat; write-lock waits {shares['lock_ms']:.2f} "
        f"thread-ms per chat; search_messages {shares['search_share']:.0f} % of busy samples"
    )


if __name__ == "__main__":
    asyncio.run(main())
