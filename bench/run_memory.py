"""Where `slawatch run`'s memory grows: glibc settings side by side, or tracemalloc.

`malloc`: one backend, and one `slawatch run` per glibc setting (default,
`MALLOC_ARENA_MAX=2`, mmap/trim thresholds), each with its own SQLite store, the
soak's probe (20 users every 5 s); RSS every 10 s; prints each one's RSS after
the warm-up, at the end, and the slope after the warm-up (MB/h).
`trace`: `slawatch run` in this process under `tracemalloc` (12 frames), snapshots
after `--warmup` and at `--duration`; prints the largest differences by traceback.
`maps`: two `slawatch run` side by side, as they are and with glibc's
`malloc_trim(0)` called every 30 s in the process; prints each one's RSS slope,
and where its resident memory grew between the warm-up and the end, by mapping
(`/proc/PID/smaps`: the main heap, anonymous mappings such as the threads' malloc
arenas, mapped files such as SQLite's `-shm`).
Usage:

    .venv/bin/python bench/run_memory.py malloc [--duration 1500] [--warmup 300]
    .venv/bin/python bench/run_memory.py trace [--duration 1140] [--warmup 240]
    .venv/bin/python bench/run_memory.py maps [--duration 1500] [--warmup 300]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import psutil
from backend_cost import ROOT, SECRET  # bench/backend_cost.py

SLAWATCH = Path(sys.executable).parent / "slawatch"
VARIANTS = {
    "default": {},
    "MALLOC_ARENA_MAX=2": {"MALLOC_ARENA_MAX": "2"},
    "mmap/trim thresholds": {
        "MALLOC_MMAP_THRESHOLD_": "65536",
        "MALLOC_TRIM_THRESHOLD_": "131072",
    },
}


@contextlib.contextmanager
def backend_and_config(tmp: Path) -> Iterator[Path]:
    """A backend on a free port and a config of the soak's probe against it."""
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    argv = [sys.executable, "-m", "backend", "--port", "0", "--db", str(tmp / "backend.db")]
    back = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert back.stdout is not None
        found = re.search(r"(ws://\S+)", back.stdout.readline())
        if found is None:
            raise RuntimeError("the backend did not print its ready line")
        config = tmp / "slawatch.toml"
        config.write_text(
            f'[[probes]]\ntarget = "{found.group(1)}"\nusers = 20\nevery = "5s"\n'
            'timeout = "4.5s"\nsession_timeout = "2.5s"\n'
        )
        yield config
    finally:
        back.terminate()
        back.wait(timeout=30)


def malloc(args: argparse.Namespace, tmp: Path) -> None:
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    with backend_and_config(tmp) as config:
        procs = {}
        for i, (name, extra) in enumerate(VARIANTS.items()):
            argv = [str(SLAWATCH), "run", "--config", str(config), "--runner", f"v{i}",
                    "--db", f"sqlite:///{tmp}/results-{i}.db"]  # fmt: skip
            procs[name] = subprocess.Popen(
                argv, env=env | extra, stderr=subprocess.DEVNULL, cwd=tmp
            )
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in procs}
        started = time.monotonic()
        while (t := time.monotonic() - started) < args.duration:
            for name, proc in procs.items():
                samples[name].append((t, psutil.Process(proc.pid).memory_info().rss / 1e6))
            time.sleep(10)
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)
    print("| glibc setting | RSS after warm-up MB | RSS at end MB | slope after warm-up MB/h |")
    print("| --- | ---: | ---: | ---: |")
    for name, points in samples.items():
        after = [(t / 3600.0, rss) for t, rss in points if t >= args.warmup]
        slope = statistics.linear_regression(*zip(*after, strict=True)).slope
        print(f"| {name} | {after[0][1]:.1f} | {after[-1][1]:.1f} | {slope:+.2f} |")


TRIMMED = """
import ctypes, sys, threading, time
libc = ctypes.CDLL("libc.so.6")
def trim():
    while True:
        time.sleep(30)
        libc.malloc_trim(0)
threading.Thread(target=trim, daemon=True).start()
from probes.cli.main import main
sys.exit(main(["run", "--config", sys.argv[1], "--runner", "trim", "--db", sys.argv[2]]))
"""


HEAP = 64 << 20  # glibc's per-thread malloc heaps are 64 MiB-aligned anonymous regions


def resident(pid: int) -> dict[str, float]:
    """Resident MB by kind of mapping: the heap, each mapped file, glibc's thread heaps
    (64 MiB-aligned anonymous regions) and the other anonymous memory."""
    mappings: list[tuple[int, int, str, str, float]] = []  # start, end, perms, kind, MB
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                kind = fields[5] if len(fields) > 5 else "anon"
                kind = Path(kind).name if kind.startswith("/") else kind
                mappings.append((start, end, fields[1], kind, 0.0))
            elif fields[0] == "Rss:":
                start, end, perms, kind, _ = mappings[-1]
                mappings[-1] = (start, end, perms, kind, int(fields[1]) / 1024)
    kinds: dict[str, float] = {}
    for start, _end, perms, kind, mb in mappings:
        if kind == "anon" and start % HEAP == 0 and perms.startswith("rw"):
            kind = "anon: 64 MiB-aligned (glibc thread heaps)"
        elif kind == "anon":
            kind = "anon: other (CPython's arenas, stacks, large blocks)"
        kinds[kind] = kinds.get(kind, 0.0) + mb
    return kinds


def maps(args: argparse.Namespace, tmp: Path) -> None:
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    with backend_and_config(tmp) as config:
        procs = {
            "as it is": subprocess.Popen(
                [
                    str(SLAWATCH),
                    "run",
                    "--config",
                    str(config),
                    "--runner",
                    "plain",
                    "--db",
                    f"sqlite:///{tmp}/results-0.db",
                ],
                env=env,
                stderr=subprocess.DEVNULL,
                cwd=tmp,
            ),
            "malloc_trim every 30 s": subprocess.Popen(
                [sys.executable, "-c", TRIMMED, str(config), f"sqlite:///{tmp}/results-1.db"],
                env=env,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
            ),
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in procs}
        warm: dict[str, dict[str, float]] = {}
        started = time.monotonic()
        while (t := time.monotonic() - started) < args.duration:
            for name, proc in procs.items():
                samples[name].append((t, psutil.Process(proc.pid).memory_info().rss / 1e6))
                if t >= args.warmup and name not in warm:
                    warm[name] = resident(proc.pid)
            time.sleep(10)
        end = {name: resident(proc.pid) for name, proc in procs.items()}
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)
    for name, points in samples.items():
        growth_report(name, points, args.warmup, warm[name], end[name])


def growth_report(
    name: str,
    points: list[tuple[float, float]],
    warmup: float,
    warm: dict[str, float],
    end: dict[str, float],
    note: str = "",
) -> float:
    """Prints the RSS slope after ``warmup`` and the mappings that grew most; returns MB/h."""
    after = [(t / 3600.0, rss) for t, rss in points if t >= warmup]
    slope = statistics.linear_regression(*zip(*after, strict=True)).slope
    print(f"\n{name}: {note}RSS {after[0][1]:.1f} -> {after[-1][1]:.1f} MB, {slope:+.2f} MB/h")
    if len(after) >= 12:  # does it slow down? the slope over each quarter after the warm-up
        quarter = len(after) // 4
        parts = [after[i * quarter : (i + 1) * quarter] for i in range(4)]
        slopes = [statistics.linear_regression(*zip(*p, strict=True)).slope for p in parts]
        print("slope by quarter after warm-up MB/h: " + ", ".join(f"{x:+.2f}" for x in slopes))
    print("| mapping | resident after warm-up MB | at end MB | grew MB |")
    print("| --- | ---: | ---: | ---: |")
    growth = {k: end.get(k, 0.0) - warm.get(k, 0.0) for k in end.keys() | warm.keys()}
    for kind in sorted(growth, key=lambda k: -abs(growth[k]))[:8]:
        print(f"| {kind} | {warm.get(kind, 0.0):.1f} | {end.get(kind, 0.0):.1f} | "
              f"{growth[kind]:+.2f} |")  # fmt: skip
    return slope


def trace(args: argparse.Namespace, tmp: Path) -> None:
    from probes.cli.main import main as slawatch_main

    os.environ["SLAWATCH_JWT_SECRET"] = SECRET
    with backend_and_config(tmp) as config:
        tracemalloc.start(12)

        def snapshots() -> None:
            time.sleep(args.warmup)
            first = tracemalloc.take_snapshot()
            time.sleep(args.duration - args.warmup)
            second = tracemalloc.take_snapshot()
            print(f"traced now / peak bytes: {tracemalloc.get_traced_memory()}")
            for stat in second.compare_to(first, "traceback")[:15]:
                print(f"{stat.size_diff / 1e3:+.1f} kB {stat.count_diff:+d} blocks")
                for line in stat.traceback.format()[-12:]:
                    print("   " + line)
            os.kill(os.getpid(), signal.SIGINT)  # stops `run` as Ctrl-C does

        threading.Thread(target=snapshots, daemon=True).start()
        slawatch_main(["run", "--config", str(config), "--db", f"sqlite:///{tmp}/results.db"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("malloc", "trace", "maps"))
    parser.add_argument("--duration", type=float)
    parser.add_argument("--warmup", type=float)
    args = parser.parse_args()
    defaults = {"malloc": (1500.0, 300.0), "trace": (1140.0, 240.0), "maps": (1500.0, 300.0)}
    args.duration = args.duration or defaults[args.mode][0]
    args.warmup = args.warmup or defaults[args.mode][1]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}; "
          f"{args.mode}, {args.duration:.0f} s, warm-up {args.warmup:.0f} s")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        {"malloc": malloc, "trace": trace, "maps": maps}[args.mode](args, Path(tmp))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
