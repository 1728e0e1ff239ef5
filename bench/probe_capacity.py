"""How many sessions one probe process drives, at what client CPU, with what timing error.

Starts ``bench/minimal_server.py`` in another process, then for 100, 500 and
1000 users at once runs, interleaved and repeated:

- probe: ``probes.target.session.run_session`` for every user via ``asyncio.gather``
  inside ``probes.target.round.fewer_collections()``, as ``run_round`` does;
- bare: a plain websockets client doing the same exchange (connect, one chat,
  read until agent_completed, close): with the probe's connection options
  (no compression, no pings, no proxy lookup), the same plus the probe's GC
  setting, and with websockets' defaults (permessage-deflate on).

Per variant it prints complete sessions per second, client CPU ms per session
(``time.process_time`` of this process / sessions) and the timing error:
client receive time of each event minus the server's ``ts`` (same host clock),
p50 and p95. Medians over the repeats.

    .venv/bin/python bench/probe_capacity.py [--users 100,500,1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import websockets
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from probes.config import DEFAULT_EVENTS as EVENTS
from probes.config import ProbeSettings
from probes.records import SessionResult
from probes.target.memory import ProcessMemory
from probes.target.round import fewer_collections, run_round
from probes.target.session import SessionSpec, run_session
from probes.target.tokens import mint_token

sys.path.insert(0, str(Path(__file__).parent))
from baseline import session_v0

SECRET = "bench-secret-0123456789abcdef-0123456789"
SERVER = Path(__file__).with_name("minimal_server.py")
MESSAGE = "What is 12 * 7?"


@dataclass(frozen=True)
class Run:
    """One variant at one size, once."""

    complete: int
    wall_s: float
    cpu_ms_per_session: float
    errors_ms: list[float]

    @property
    def per_s(self) -> float:
        return self.complete / self.wall_s


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (
        f"{model}, {len(os.sched_getaffinity(0))} cores, "
        f"Python {platform.python_version()}, websockets {websockets.version.version}, "
        f"{platform.system()} {platform.release()}"
    )


def tokens(users: int) -> list[tuple[str, str]]:
    now = time.time()
    return [(f"bench-{i}", mint_token(SECRET, f"bench-{i}", now=now)) for i in range(users)]


async def measure(sessions: Callable[[], Awaitable[tuple[int, list[float]]]], users: int) -> Run:
    cpu, wall = time.process_time(), time.perf_counter()
    complete, errors = await sessions()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Run(complete, wall, cpu * 1000 / users, errors)


async def probe(url: str, users: list[tuple[str, str]]) -> tuple[int, list[float]]:
    specs = [
        SessionSpec("bench", "bench", url, "bench", user_id, token, "header", MESSAGE, EVENTS, 30.0)
        for user_id, token in users
    ]
    with fewer_collections():
        results: list[SessionResult] = await asyncio.gather(*(run_session(s) for s in specs))
    errors = [
        r.started_at.timestamp() * 1000 + e.ms - e.server_ts
        for r in results
        for e in r.events
        if e.server_ts is not None
    ]
    failed = Counter(r.error.split(" (")[0] for r in results if r.outcome != "ok")
    if failed:
        print(f"  probe failures: {dict(failed)}", file=sys.stderr)
    return sum(r.outcome == "ok" for r in results), errors


async def probe_before(url: str, users: list[tuple[str, str]]) -> tuple[int, list[float]]:
    """The same as ``probe`` with the session as it was before protocol profiles."""
    specs = [
        session_v0.SessionSpec(
            "bench", "bench", url, "bench", user_id, token, "header", MESSAGE, EVENTS, 30.0
        )
        for user_id, token in users
    ]
    with fewer_collections():
        results = await asyncio.gather(*(session_v0.run_session(s) for s in specs))
    errors = [
        r.started_at.timestamp() * 1000 + e.ms - e.server_ts
        for r in results
        for e in r.events
        if e.server_ts is not None
    ]
    return sum(r.outcome == "ok" for r in results), errors


async def bare_session(url: str, token: str, errors: list[float], defaults: bool) -> bool:
    headers = {"Authorization": f"Bearer {token}"}
    protocols = [Subprotocol("agent-chat.v1")]
    options = {} if defaults else {"compression": None, "proxy": None, "ping_interval": None}
    async with connect(url, additional_headers=headers, subprotocols=protocols, **options) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "chat", "id": uuid4().hex, "text": MESSAGE}))
        while True:
            message = json.loads(await ws.recv())
            errors.append(time.time() * 1000 - message["ts"])
            if message["type"] == "agent_completed":
                return True


def bare(
    defaults: bool, relaxed_gc: bool = False
) -> Callable[[str, list[tuple[str, str]]], Awaitable[tuple[int, list[float]]]]:
    async def run(url: str, users: list[tuple[str, str]]) -> tuple[int, list[float]]:
        errors: list[float] = []
        with fewer_collections() if relaxed_gc else nullcontext():
            done = await asyncio.gather(
                *(bare_session(url, token, errors, defaults) for _, token in users),
                return_exceptions=True,
            )
        return sum(d is True for d in done), errors

    return run


BASE = "bare, same options"
PROBE, BEFORE = "probe (run_session, as run_round)", "probe before profiles (frozen copy)"
VARIANTS = {
    PROBE: probe,
    BEFORE: probe_before,
    BASE: bare(defaults=False),
    "bare, same options + probe's GC setting": bare(defaults=False, relaxed_gc=True),
    "bare, websockets defaults": bare(defaults=True),
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def table(url: str, sizes: list[int], repeats: int) -> None:
    """Every variant at every size, interleaved, ``repeats`` times; medians."""
    print("| users | variant | complete | round s | sessions/s | client CPU ms/session", end="")
    print(" | CPU vs bare | timing error p50 / p95 ms |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios: list[float] = []
    for users in sizes:
        runs: dict[str, list[Run]] = {name: [] for name in VARIANTS}
        for _ in range(repeats):
            for name, variant in VARIANTS.items():
                batch = tokens(users)
                runs[name].append(await measure(lambda v=variant, b=batch: v(url, b), users))
        base = statistics.median(r.cpu_ms_per_session for r in runs[BASE])
        ratios.append(
            statistics.median(r.cpu_ms_per_session for r in runs[PROBE])
            / statistics.median(r.cpu_ms_per_session for r in runs[BEFORE])
        )
        for name, rs in runs.items():
            cpu = statistics.median(r.cpu_ms_per_session for r in rs)
            errors = [e for r in rs for e in r.errors_ms]
            print(
                f"| {users} | {name} | {min(r.complete for r in rs)}/{users} "
                f"| {statistics.median(r.wall_s for r in rs):.2f} "
                f"| {statistics.median(r.per_s for r in rs):.0f} | {cpu:.2f} | {cpu / base:.2f}x "
                f"| {pct(errors, 0.5):.2f} / {pct(errors, 0.95):.2f} |",
                flush=True,
            )
    sizes_text = ", ".join(f"{n}: {r:.3f}x" for n, r in zip(sizes, ratios, strict=True))
    print(f"\nprobe CPU per session, profiles / before profiles: {sizes_text}")


async def idle_error(url: str, sessions: int) -> None:
    """Timing error with one session at a time: what the probe adds when not loaded."""
    for name, variant in list(VARIANTS.items())[:2]:
        errors: list[float] = []
        for batch in [tokens(1) for _ in range(sessions)]:
            errors += (await variant(url, batch))[1]
        print(f"- {name}: p50 {pct(errors, 0.5):.2f} ms, p95 {pct(errors, 0.95):.2f} ms")


async def full_round(url: str, users: int, server_pid: int) -> None:
    """``run_round`` itself at ``users``, memory read with psutil (the server has no DB)."""
    probe = ProbeSettings(
        name="bench", target=url, users=users, timeout_s=30.0, session_timeout_s=20.0,
        bad_token_check=False, db_check=False,
    )  # fmt: skip
    cpu, wall = time.process_time(), time.perf_counter()
    result = await run_round(
        probe,
        run_id="bench",
        runner="bench",
        secret=SECRET,
        memory=ProcessMemory(server_pid),
        now=lambda: datetime.now(UTC),
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    ok = sum(s.outcome == "ok" for s in result.sessions)
    print(
        f"- run_round, {users} users: status {result.status}, {ok}/{users} ok, {wall:.2f} s, "
        f"client CPU {cpu * 1000 / users:.2f} ms/session, {len(result.memory_samples)} memory "
        f"samples, server RSS {result.memory_baseline_mb:.1f} -> {result.memory_after_mb:.1f} MB"
    )


async def bench(url: str, sizes: list[int], repeats: int, server_pid: int) -> None:
    for variant in VARIANTS.values():  # warm up every code path once
        await variant(url, tokens(20))
    await table(url, sizes, repeats)
    print("\nTiming error, one session at a time (50 sessions):")
    await idle_error(url, 50)
    print("\nA whole round:")
    await full_round(url, max(sizes), server_pid)


def run(main: Coroutine[Any, Any, None], *, uvloop: bool) -> None:
    """``asyncio.run``, on uvloop when asked (not a project dependency: a measurement)."""
    if uvloop:
        import uvloop as uv

        uv.run(main)
    else:
        asyncio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description="probe capacity bench")
    parser.add_argument("--users", default="100,500,1000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true", help="client and server on uvloop")
    args = parser.parse_args()
    loop = ["--uvloop"] if args.uvloop else []
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", *loop], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        if ready[:1] != ["READY"]:
            sys.exit("minimal server did not start")
        print(f"machine: {machine()}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"server: {SERVER.name}, another process; repeats: {args.repeats} (medians)\n")
        sizes = [int(n) for n in args.users.split(",")]
        print(f"event loop: {'uvloop' if args.uvloop else 'asyncio (default)'}\n")
        run(bench(ready[1], sizes, args.repeats, server.pid), uvloop=args.uvloop)
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
