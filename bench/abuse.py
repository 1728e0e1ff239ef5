"""Well-behaved users' chat latency with and without ten abusive clients.

Starts `python -m backend` (its own temp database) twice: with its default
per-user budgets, and with them lifted (`--request-rate` and
`--reply-rate-kib` huge: what the backend did before it had them). Against
each, `--users` well-behaved users hold one connection each and chat in a
loop (send a `chat`, read until `agent_completed`, think `--think-ms`, so
each stays well under its request budget), first alone, then while
`--abusers` authenticated clients, each owning a large thread (`--messages`
messages), send `get_thread` on it every `--pace-ms` (10) and never read (the
websockets client stops reading once 16 messages wait, so TCP pushes back),
reconnecting whenever they are closed. The abusers run in a process of their
own, so their client-side work does not delay the well-behaved users' event
loop, at `--abuser-nice` (19): on this one machine their own CPU would
otherwise be taken from the backend, where real abusers spend theirs on
their own machines. Each run also reports the backend's CPU seconds (user +
system, psutil): what the abuse cost the server.

The four conditions are run `--repeats` times, interleaved (alone and
attacked, one backend then the other, in each repeat) so that the
machine's noise hits all of them alike; it prints each run and then, per
condition, the median over the repeats of the completion p50/p95
(statistics.quantiles) and the attacked/alone ratio of the medians. A
well-behaved chat answered with an `error` (a refusal) is counted apart,
never as a completion. Usage:

    .venv/bin/python bench/abuse.py [--users 20] [--abusers 10] [--seconds 10] [--repeats 5]
        [--baseline ../older-checkout]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path

import psutil
from backend_cost import ROOT, SECRET, backend_process  # bench/backend_cost.py
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


async def user_loop(
    url: str, user: str, stop: asyncio.Event, times: list[float], refused: list[int], think_s: float
) -> None:
    """Chat in a loop; append each completion time (ms) to `times`, count refusals."""
    async with _connect(url, user) as ws:
        index = 0
        while not stop.is_set():
            index += 1
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "chat", "id": f"c{index}", "text": "what is 2 + 3?"}))
            while (kind := json.loads(await ws.recv()).get("type")) not in (
                "agent_completed",
                "error",
            ):
                pass
            if kind == "error":
                refused[0] += 1
            else:
                times.append((time.perf_counter() - started) * 1000.0)
            await asyncio.sleep(think_s)


async def _abuse(url: str, threads: list[str], seconds: float, pace_s: float) -> AbuseTally:
    stop, tally = asyncio.Event(), AbuseTally()
    tasks = [
        asyncio.create_task(abuser(url, f"abuser-{i}", thread, stop, tally, pace_s))
        for i, thread in enumerate(threads)
    ]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    return tally


def abuse_process(
    url: str, threads: list[str], seconds: float, pace_s: float, nice: int, out: Queue[AbuseTally]
) -> None:
    """The abusers, in a process of their own: their tally goes back through `out`."""
    os.nice(nice)
    out.put(asyncio.run(_abuse(url, threads, seconds, pace_s)))


@dataclass
class Run:
    """One measured run: completion times (ms), refusals, and the abusers' tally."""

    times: list[float]
    refused: int
    tally: AbuseTally | None
    cpu_s: float  # the backend's CPU time during the run

    @property
    def p50(self) -> float:
        return statistics.quantiles(self.times, n=100)[49]

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.times, n=100)[94]

    def row(self, label: str, abuse: str) -> str:
        t = self.tally
        closes = ", ".join(f"{n}x {why}" for why, n in t.closes.most_common(3)) if t else ""
        abusers = (
            f"{t.sent} sent, {t.connections} connections, closes: {closes or '-'}" if t else ""
        )
        return (
            f"| {label} | {abuse} | {len(self.times)} | {self.refused} | {self.p50:.1f} "
            f"| {self.p95:.1f} | {self.cpu_s:.1f} | {abusers} |"
        )


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def measure(pid: int, url: str, args: argparse.Namespace, threads: list[str] | None) -> Run:
    """One run: well-behaved users, with the abusers' process running when `threads`."""
    stop, times, refused = asyncio.Event(), [], [0]
    cpu_before = cpu_s(pid)
    abusers = None
    if threads:
        context = multiprocessing.get_context("spawn")
        out: Queue[AbuseTally] = context.Queue()
        abusers = context.Process(
            target=abuse_process,
            args=(url, threads, args.seconds + 1.0, args.pace_ms / 1000, args.abuser_nice, out),
        )
        abusers.start()
        await asyncio.sleep(1.0)  # the process starts and the abuse begins
    think_s = args.think_ms / 1000
    tasks = [
        asyncio.create_task(user_loop(url, f"user-{i}", stop, times, refused, think_s))
        for i in range(args.users)
    ]
    await asyncio.sleep(args.seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    cpu = cpu_s(pid) - cpu_before
    tally = None
    if abusers is not None:
        tally = await asyncio.to_thread(out.get, True, 60)
        abusers.join(30)
    return Run(times, refused[0], tally, cpu)


CONDITIONS = (("budgets lifted", UNLIMITED), ("default budgets", ()))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--abusers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pace-ms", type=float, default=10.0, help="between an abuser's sends")
    parser.add_argument("--think-ms", type=float, default=100.0, help="between a user's chats")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds of all runs")
    parser.add_argument("--abuser-nice", type=int, default=19, help="the abusers' process")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (say a git worktree of an older commit): its backend with "
        "default budgets runs as a third condition, interleaved with the others",
    )
    args = parser.parse_args()
    conditions = [(label, extra, ROOT) for label, extra in CONDITIONS]
    if args.baseline is not None:
        conditions.append((f"default budgets, {args.baseline}", (), args.baseline.resolve()))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| backend | abuse | chats | refused | p50 ms | p95 ms | backend CPU s | abusers |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    argv = ("--step-delay-ms", "5", "--max-connections", "5000")
    runs: dict[tuple[str, bool], list[Run]] = {}
    async with contextlib.AsyncExitStack() as stack:
        backends = []
        for label, extra, tree in conditions:
            pid, url = await stack.enter_async_context(backend_process(*argv, *extra, tree=tree))
            threads = [
                await large_thread(url, f"abuser-{i}", args.messages) for i in range(args.abusers)
            ]
            backends.append((label, pid, url, threads))
        for _ in range(args.repeats):
            for label, pid, url, threads in backends:
                for attacked in (False, True):
                    run = await measure(pid, url, args, threads if attacked else None)
                    runs.setdefault((label, attacked), []).append(run)
                    abuse = f"{args.abusers} abusers" if attacked else "none"
                    print(run.row(label, abuse), flush=True)
    print(f"\nmedians over {args.repeats} repeat(s), load average {os.getloadavg()[0]:.1f}:")
    print("| backend | p95 alone ms | p95 with abusers ms | ratio | p50 alone / with ms "
          "| backend CPU s alone / with |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for label, _extra, _tree in conditions:
        alone, hit = runs[(label, False)], runs[(label, True)]
        p95a = statistics.median(r.p95 for r in alone)
        p95h = statistics.median(r.p95 for r in hit)
        p50a = statistics.median(r.p50 for r in alone)
        p50h = statistics.median(r.p50 for r in hit)
        cpua = statistics.median(r.cpu_s for r in alone)
        cpuh = statistics.median(r.cpu_s for r in hit)
        print(f"| {label} | {p95a:.1f} | {p95h:.1f} | {p95h / p95a:.2f} | {p50a:.1f} / {p50h:.1f} "
              f"| {cpua:.1f} / {cpuh:.1f} |")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
