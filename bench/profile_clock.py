"""The probe's first-event and completion times against a server's own clock (issue 8).

Starts the tests' own "acme" envelope server (``tests/profiles/acme.py``) in another
process; it notes, on its clock, when it read each run frame and when it sent each
event. Then runs, as a user would, ``slawatch probe --target ... --profile
tests/profiles/files/acme-envelope.toml --db sqlite:///...`` and ``slawatch export
sessions``, pairs each exported session with the server's account of it, and prints
per figure the difference probe - server in ms (p50, p95, max of the absolute value).

``perf_counter`` is CLOCK_MONOTONIC on Linux, one clock for both processes; the
difference is the loopback's two one-way trips plus each side's own handling.

    .venv/bin/python bench/profile_clock.py [--users 5] [--rounds 20] [-- PROBE-ARGS...]

A plain websockets client doing the same exchange (stamps before its send and when
``recv`` returns) is measured after the probe, against the same server, for scale.
Arguments after ``--`` go to ``slawatch probe`` (e.g. ``--config`` to turn the
bad-token check off). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "tests" / "profiles" / "files" / "acme-envelope.toml"
SLAWATCH = str(Path(sys.executable).parent / "slawatch")


async def serve() -> None:
    """The server process: print the port, serve until stdin closes, print the truth."""
    sys.path.insert(0, str(ROOT))
    from websockets.asyncio.server import serve as ws_serve

    from tests.profiles.acme import Acme

    server = Acme()
    async with ws_serve(
        server.handler, "127.0.0.1", 0,
        process_request=server.process_request, select_subprotocol=server.select,
    ) as ws:  # fmt: skip
        print(ws.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for t in server.truth:
        print(json.dumps({"user": t.user, "chat_at": t.chat_at, "sent": t.sent}))


async def bare(port: int, users: int, rounds: int, secret: str) -> list[dict[str, Any]]:
    """The same exchange by a plain websockets client: stamp before the run frame is
    sent, and when ``recv`` hands over the first token and the finish."""
    from time import perf_counter

    import jwt
    from websockets.asyncio.client import connect

    async def one(user: str) -> dict[str, Any]:
        token = jwt.encode({"sub": user, "aud": "agent-chat", "exp": 2**31}, secret)
        url = f"ws://127.0.0.1:{port}/agent?user={user}"
        async with connect(url, subprotocols=["acme.v1"], compression=None) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"op": "auth", "token": token}))
            while json.loads(await ws.recv())["event"]["type"] != "auth_ok":
                pass
            await ws.send('{"op": "config"}')
            await ws.recv()
            sent = perf_counter()
            await ws.send(json.dumps({"op": "run", "rid": "r", "input": "hi"}))
            first = None
            while True:
                kind = json.loads(await ws.recv())["event"]["type"]
                first = first or (perf_counter() if kind == "token" else None)
                if kind == "finish":
                    done = perf_counter()
                    break
        first_ms = None if first is None else (first - sent) * 1000.0
        return {"user_id": user, "started_at": sent, "outcome": "ok",
                "first_event_ms": first_ms, "completion_ms": (done - sent) * 1000.0}  # fmt: skip

    out: list[dict[str, Any]] = []
    for r in range(rounds):
        out += await asyncio.gather(*(one(f"bare-{r}-{i}") for i in range(users)))
    return out


def compare(
    sessions: list[dict[str, Any]], truth: list[dict[str, Any]]
) -> tuple[list[float], list[float]]:
    """Per session, probe - server for the first token and for the finish (ms)."""
    by_user: dict[str, list[dict[str, Any]]] = {}
    for t in sorted(truth, key=lambda t: t["chat_at"]):
        by_user.setdefault(t["user"], []).append(t)
    first, done = [], []
    for s in sorted(sessions, key=lambda s: s["started_at"]):
        t = by_user[s["user_id"]].pop(0)
        sent = {kind: at for kind, at in reversed(t["sent"])}  # the first of each kind
        if s["first_event_ms"] is not None:
            first.append(s["first_event_ms"] - (sent["token"] - t["chat_at"]) * 1000.0)
        if s["completion_ms"] is not None:
            done.append(s["completion_ms"] - (sent["finish"] - t["chat_at"]) * 1000.0)
    return first, done


def quantiles(values: list[float]) -> str:
    absolute = sorted(abs(v) for v in values)
    p95 = absolute[min(len(absolute) - 1, int(0.95 * len(absolute)))]
    median = statistics.median(values)
    return f"p50 {median:+.3f} ms, |p50| {statistics.median(absolute):.3f}, |p95| {p95:.3f}, |max| {absolute[-1]:.3f}"  # noqa: E501


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", help="more slawatch probe arguments, after --")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    sys.path.insert(0, str(ROOT))
    from tests.profiles.dialects import SECRET

    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/results.db"
        probe = [SLAWATCH, "probe", "--target", f"ws://127.0.0.1:{port}/agent", "--profile",
                 str(PROFILE), "--db", db, "--users", str(args.users),
                 "--rounds", str(args.rounds), *args.extra]  # fmt: skip
        subprocess.run(probe, env=env, cwd=tmp, check=False, capture_output=True)
        exported = subprocess.run(
            [SLAWATCH, "export", "sessions", "--db", db, "--format", "json"],
            env=env, cwd=tmp, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        plain = asyncio.run(bare(port, args.users, args.rounds, SECRET))
    server.stdin.close()
    truth = [json.loads(line) for line in server.stdout]
    server.wait()
    sessions: list[dict[str, Any]] = json.loads(exported)
    outcomes = sorted({s["outcome"] for s in sessions})
    print(f"{len(sessions)} sessions ({args.users} users x {args.rounds} rounds), {outcomes}")
    for label, rows in (("slawatch probe", sessions), ("plain websockets client", plain)):
        ours = [t for t in truth if t["user"].startswith("bare-") == (rows is plain)]
        first, done = compare(rows, ours)
        print(f"{label}:")
        print(f"  first_event_ms - server (run read -> first token sent): {quantiles(first)}")
        print(f"  completion_ms  - server (run read -> finish sent):      {quantiles(done)}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
