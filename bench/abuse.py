"""Well-behaved users' chat latency with and without ten abusive clients.

Starts `python -m backend` (its own temp database) twice: with its default
per-user budgets, and with them lifted (`--request-rate` and
`--reply-rate-kib` huge: what the backend did before it had them). Against
each, `--users` well-behaved users hold one connection each and chat in a
loop (send a `chat`, read until `agent_completed`), first alone, then while
`--abusers` authenticated clients, each owning a large thread (`--messages`
messages), send `get_thread` on it every `--pace-ms` (10) and never read (the
websockets client stops reading once 16 messages wait, so TCP pushes back),
reconnecting whenever they are closed. Prints the well-behaved users'
completion time p50/p95 (statistics.quantiles) for each of the four runs,
and what the abusers got. Usage:

    .venv/bin/python bench/abuse.py [--users 20] [--abusers 10] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from backend_cost import SECRET, backend_process  # bench/backend_cost.py
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from probes.target.tokens import mint_token

UNLIMITED = ("--request-rate", "1e9", "--reply-rate-kib", "1e9")


def _connect(url: str, user: str) -> connect:
    token = mint_token(SECRET, user, ttl_s=3600.0, now=time.time())
    return connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
        compression=None,
        ping_interval=None,
        max_size=None,
    )


async def _ask(ws: ClientConnection, message: dict[str, object]) -> dict[str, object]:
    await ws.send(json.dumps(message))
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("ref") == message["id"]:
            return reply


async def large_thread(url: str, user: str, messages: int) -> str:
    """A thread of `messages` ~100-character messages owned by `user`."""
    async with _connect(url, user) as ws:
        thread = str((await _ask(ws, {"type": "create_thread", "id": "t"}))["thread_id"])
        for start in range(0, messages, 100):
            batch = [f"message {i}: " + "lorem ipsum " * 7 for i in range(start, start + 100)]
            post = {"type": "post_messages", "id": f"p{start}", "thread_id": thread}
            await _ask(ws, {**post, "messages": batch})
    return thread


@dataclass
class AbuseTally:
    """What the abusers did: requests sent, connections opened, closes seen."""

    sent: int = 0
    connections: int = 0
    closes: Counter[str] = field(default_factory=Counter)


async def abuser(
    url: str, user: str, thread: str, stop: asyncio.Event, tally: AbuseTally, pace_s: float
) -> None:
    """Send get_thread forever without reading; reconnect whenever closed."""
    request = {"type": "get_thread", "thread_id": thread}
    while not stop.is_set():
        try:
            async with _connect(url, user) as ws:
                tally.connections += 1
                while not stop.is_set():
                    await ws.send(json.dumps({**request, "id": str(tally.sent)}))
                    tally.sent += 1
                    await asyncio.sleep(pace_s)  # under the in-flight limit: full work each
        except ConnectionClosed as exc:
            tally.closes[f"{exc.rcvd.code} {exc.rcvd.reason}" if exc.rcvd else "1006"] += 1
        except (InvalidStatus, OSError) as exc:
            tally.closes[type(exc).__name__] += 1
            await asyncio.sleep(0.05)


async def user_loop(url: str, user: str, stop: asyncio.Event, times: list[float]) -> None:
    """Chat in a loop; append each completion time (ms) to `times`."""
    async with _connect(url, user) as ws:
        index = 0
        while not stop.is_set():
            index += 1
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "chat", "id": f"c{index}", "text": "what is 2 + 3?"}))
            while json.loads(await ws.recv()).get("type") not in ("agent_completed", "error"):
                pass
            times.append((time.perf_counter() - started) * 1000.0)


async def measure(url: str, args: argparse.Namespace, threads: list[str] | None) -> str:
    """One run: well-behaved users (and abusers when `threads`); a table row's cells."""
    stop, times, tally = asyncio.Event(), [], AbuseTally()
    tasks = [
        asyncio.create_task(abuser(url, f"abuser-{i}", thread, stop, tally, args.pace_ms / 1000))
        for i, thread in enumerate(threads or [])
    ]
    await asyncio.sleep(0.5 if threads else 0)  # let the abuse start
    tasks += [
        asyncio.create_task(user_loop(url, f"user-{i}", stop, times)) for i in range(args.users)
    ]
    await asyncio.sleep(args.seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    cuts = statistics.quantiles(times, n=100)
    closes = ", ".join(f"{n}x {why}" for why, n in tally.closes.most_common(3)) or "-"
    abuse = (
        f"{tally.sent} sent, {tally.connections} connections, closes: {closes}" if threads else ""
    )
    return f"{len(times)} | {cuts[49]:.1f} | {cuts[94]:.1f} | {abuse}"


async def run(args: argparse.Namespace, label: str, extra: tuple[str, ...]) -> None:
    argv = ("--step-delay-ms", "5", "--max-connections", "5000", *extra)
    async with backend_process(*argv) as (_pid, url):
        threads = [
            await large_thread(url, f"abuser-{i}", args.messages) for i in range(args.abusers)
        ]
        alone = await measure(url, args, None)
        print(f"| {label} | none | {alone} |", flush=True)
        attacked = await measure(url, args, threads)
        print(f"| {label} | {args.abusers} abusers | {attacked} |", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--abusers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pace-ms", type=float, default=10.0, help="between an abuser's sends")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| backend | abuse | chats | p50 ms | p95 ms | abusers |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    await run(args, "budgets lifted", UNLIMITED)
    await run(args, "default budgets", ())
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
