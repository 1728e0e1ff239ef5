"""Where the dashboard's memory grows: per page load, or with the store it reads?

Starts a backend, `slawatch run` (the soak's probe: `--users` users every
`--every` seconds) writing into a SQLite store, and two `slawatch dashboard`
processes: one on that store as it grows, one on a copy of it taken after the
first minute (a store nothing writes to). Headless Chromium loads each one's
Live page in turn every `--page-every` seconds. Every 10 s it reads both
dashboards' RSS; at the end it prints, for each, the RSS slope after
`--warmup` (MB/h and MB per 100 page loads) and where its resident memory grew
between the warm-up and the end, by mapping (`/proc/PID/smaps`). Growth on
both says "per page load"; growth on the written one only says "with the
store". Usage:

    .venv/bin/python bench/dashboard_memory.py [--duration 1200] [--warmup 300] [--page-every 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from backend_cost import SECRET, backend_process  # bench/backend_cost.py
from run_memory import SLAWATCH, growth_report, resident  # bench/run_memory.py
from soak import free_port, load_page  # bench/soak.py


def _config(path: Path, store: Path, url: str, args: argparse.Namespace) -> Path:
    path.write_text(
        f'[store]\nurl = "sqlite:///{store}"\n'
        f'[[probes]]\ntarget = "{url}"\nusers = {args.users}\nevery = "{args.every}s"\n'
        f'timeout = "{args.every - 0.5:g}s"\nsession_timeout = "{args.every - 2.5:g}s"\n'
    )
    return path


def _copy(source: Path, copy: Path) -> None:
    """A consistent copy of a live SQLite store (the backup API)."""
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)


async def measure(args: argparse.Namespace, tmp: Path) -> None:
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    flags = ("--step-delay-ms", "5", "--max-connections", "5000")
    async with backend_process(*flags) as (_pid, url):
        live = _config(tmp / "live.toml", tmp / "results.db", url, args)
        logs = (tmp / "run.log").open("w")
        run = subprocess.Popen(
            [str(SLAWATCH), "run", "--config", str(live)], env=env, stdout=logs, stderr=logs
        )
        try:
            await asyncio.sleep(60.0)  # a minute of rounds to copy (setup, not synchronisation)
            _copy(tmp / "results.db", tmp / "still.db")
            still = _config(tmp / "still.toml", tmp / "still.db", url, args)
            ports = {"store being written": free_port(), "store nothing writes": free_port()}
            dashes = {
                name: subprocess.Popen(
                    [str(SLAWATCH), "dashboard", "--config", str(config), "--port", str(port)],
                    env=env,
                    stdout=logs,
                    stderr=logs,
                )
                for (name, port), config in zip(ports.items(), (live, still), strict=True)
            }
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in dashes}
            loads = dict.fromkeys(dashes, 0)
            warm: dict[str, dict[str, float]] = {}
            started = time.monotonic()
            while (t := time.monotonic() - started) < args.duration:
                for name, dash in dashes.items():
                    samples[name].append((t, psutil.Process(dash.pid).memory_info().rss / 1e6))
                    if t >= args.warmup and name not in warm:
                        warm[name] = resident(dash.pid)
                    await asyncio.to_thread(load_page, ports[name])
                    loads[name] += 1
                await asyncio.sleep(max(0.0, args.page_every - (time.monotonic() - started - t)))
            end = {name: resident(dash.pid) for name, dash in dashes.items()}
            for dash in dashes.values():
                dash.terminate()
                dash.wait(timeout=60)
        finally:
            run.terminate()
            run.wait(timeout=60)
    hours = args.duration / 3600.0
    for name, points in samples.items():
        note = f"{loads[name]} page loads, "
        slope = growth_report(name, points, args.warmup, warm[name], end[name], note)
        print(f"{slope / (loads[name] / hours) * 100:+.2f} MB per 100 page loads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=1200.0)
    parser.add_argument("--warmup", type=float, default=300.0)
    parser.add_argument("--page-every", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--every", type=float, default=5.0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}; "
          f"{args.duration:.0f} s, warm-up {args.warmup:.0f} s, a page each "
          f"{args.page_every:g} s")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(args, Path(tmp)))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
