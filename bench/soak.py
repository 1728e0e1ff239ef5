"""Memory and resources over time: the backend, `slawatch run` and the dashboard under churn.

Starts `python -m backend`, `slawatch run` (one probe of `--users` users every
`--every` seconds against that backend, results in a temp SQLite store) and
`slawatch dashboard` on the same store, whose Live page headless Chromium
loads every `--page-every` seconds (when `chromium` is installed), for
`--duration` seconds (default 1 h). Every `--sample` seconds it reads each
process's RSS, open fds, threads and TCP connections (psutil), and the
backend's `/healthz` (connections, asyncio tasks). It prints, per process,
the RSS slope after `--warmup` seconds (statistics.linear_regression, MB/h)
and the other figures at the end of the warm-up and at the end; the
backend's connections and tasks are also read once `slawatch run` has
stopped, to see them return to their baseline from before the churn. Usage:

    .venv/bin/python bench/soak.py [--duration 3600] [--warmup 600] [--users 20] [--every 5]
        [--window 1800]

A run holding two or more `--window`s after the warm-up also prints each
window's slope: whether the growth slows down over a long soak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from backend_cost import SECRET, backend_process  # bench/backend_cost.py

SLAWATCH = Path(sys.executable).parent / "slawatch"


@dataclass
class Series:
    """One process's samples: (seconds since start, RSS MB, fds, threads, TCP connections)."""

    name: str
    pid: int
    samples: list[tuple[float, float, int, int, int]] = field(default_factory=list)

    def sample(self, t: float) -> None:
        proc = psutil.Process(self.pid)
        with proc.oneshot():
            rss = proc.memory_info().rss / 1e6
            fds, threads = proc.num_fds(), proc.num_threads()
            conns = len(proc.net_connections(kind="tcp"))
        self.samples.append((t, rss, fds, threads, conns))

    def slope_mb_h(self, after_s: float, before_s: float = float("inf")) -> float:
        points = [(t / 3600.0, rss) for t, rss, *_ in self.samples if after_s <= t < before_s]
        if len(points) < 3:
            return float("nan")
        fit = statistics.linear_regression([p[0] for p in points], [p[1] for p in points])
        return fit.slope

    def at(self, t: float) -> tuple[float, float, int, int, int]:
        return min(self.samples, key=lambda s: abs(s[0] - t))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health(http: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{http}/healthz", timeout=5) as answer:
        return dict(json.load(answer))


def write_config(tmp: Path, url: str, args: argparse.Namespace) -> Path:
    config = tmp / "slawatch.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp / "results.db"}"\n'
        f'[[probes]]\ntarget = "{url}"\nusers = {args.users}\nevery = "{args.every}s"\n'
        f'timeout = "{args.every - 0.5:g}s"\nsession_timeout = "{args.every - 2.5:g}s"\n'
    )
    return config


def load_page(port: int) -> None:
    """Headless Chromium renders the dashboard's Live page once (runs its script)."""
    browser = shutil.which("chromium")
    if browser is None:
        return
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000",
         "--dump-dom", f"http://127.0.0.1:{port}/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip


async def soak(args: argparse.Namespace) -> None:
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    flags = ("--step-delay-ms", "5", "--max-connections", "5000")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        async with backend_process(*flags) as (backend_pid, url):
            http = url.replace("ws://", "http://").rsplit("/", 1)[0]
            before = health(http)
            config = write_config(tmp, url, args)
            logs = (tmp / "run.log").open("w")
            run = subprocess.Popen([str(SLAWATCH), "run", "--config", str(config)], env=env,
                                   stdout=logs, stderr=logs)  # fmt: skip
            port = free_port()
            dash = subprocess.Popen(
                [str(SLAWATCH), "dashboard", "--config", str(config), "--port", str(port)],
                env=env, stdout=logs, stderr=logs,
            )  # fmt: skip
            series = [Series("backend", backend_pid), Series("slawatch run", run.pid),
                      Series("dashboard", dash.pid)]  # fmt: skip
            tasks: list[tuple[float, int]] = []
            started = time.monotonic()
            next_page = started + 5.0
            try:
                while (now := time.monotonic()) - started < args.duration:
                    t = now - started
                    if run.poll() is not None or dash.poll() is not None:
                        raise RuntimeError((tmp / "run.log").read_text()[-2000:] or "exited")
                    for s in series:
                        s.sample(t)
                    tasks.append((t, health(http)["tasks"]))
                    if now >= next_page:
                        await asyncio.to_thread(load_page, port)
                        next_page = time.monotonic() + args.page_every
                    await asyncio.sleep(max(0.0, args.sample - (time.monotonic() - now)))
            finally:
                run.terminate()
                run.wait(timeout=60)
                dash.terminate()
                dash.wait(timeout=60)
            await asyncio.sleep(2.0)  # the backend sees the last closes
            after = health(http)
            report(series, tasks, before, after, args)


def report(
    series: list[Series],
    tasks: list[tuple[float, int]],
    before: dict[str, int],
    after: dict[str, int],
    args: argparse.Namespace,
) -> None:
    end = series[0].samples[-1][0]
    print(f"duration {end:.0f} s, warm-up {args.warmup:g} s, {args.users} users every "
          f"{args.every:g} s, samples every {args.sample:g} s")  # fmt: skip
    print("| process | RSS after warm-up MB | RSS at end MB | slope after warm-up MB/h "
          "| fds warm-up / end | threads warm-up / end | TCP conns warm-up / end |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | --- | --- | --- |")
    for s in series:
        w, e = s.at(args.warmup), s.samples[-1]
        print(f"| {s.name} | {w[1]:.1f} | {e[1]:.1f} | {s.slope_mb_h(args.warmup):+.2f} "
              f"| {w[2]} / {e[2]} | {w[3]} / {e[3]} | {w[4]} / {e[4]} |")  # fmt: skip
    windows = int((end - args.warmup) // args.window)
    if windows >= 2:  # does the growth slow down? (long soaks)
        edges = [args.warmup + i * args.window for i in range(windows)]
        names = (f"{a / 60:.0f}-{(a + args.window) / 60:.0f} min" for a in edges)
        print(f"\nslope (MB/h) in each {args.window / 60:g}-minute window after the warm-up:")
        print("| process | " + " | ".join(names) + " |\n| --- |" + " ---: |" * len(edges))
        for s in series:
            cells = (f"{s.slope_mb_h(a, a + args.window):+.2f}" for a in edges)
            print(f"| {s.name} | " + " | ".join(cells) + " |")
    warm_tasks = min(tasks, key=lambda x: abs(x[0] - args.warmup))[1]
    print(f"backend asyncio tasks: before the churn {before['tasks']}, after warm-up "
          f"{warm_tasks} (mid-round), max {max(n for _, n in tasks)}, after `run` stopped "
          f"{after['tasks']}; connections before {before['connections']}, after "
          f"{after['connections']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds (default 1 h)")
    parser.add_argument("--warmup", type=float, default=600.0, help="seconds (default 10 min)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between rounds (>= 3)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--window", type=float, default=1800.0, help="seconds per slope window (two or more: shown)"
    )
    parser.add_argument("--page-every", type=float, default=60.0, help="dashboard page loads")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    asyncio.run(soak(args))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
