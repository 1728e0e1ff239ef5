"""CPU of one large `get_thread` reply: the SQLite-built JSON against rows built in Python.

Fills a thread of `--messages` messages of ~600 characters in a temp backend
database, then times (`time.process_time`, median of `--repeats` calls in this
process) what the backend does now (`database.thread_view`: SQLite's
`json_group_array`, run with the interpreter lock released) against what it did
before (the rows fetched, turned into dicts, and the reply encoded in Python,
the encoding on the event loop). Usage:

    .venv/bin/python bench/thread_reply.py [--messages 1000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# bench/backend.py would shadow the package: import it from the project root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
from backend import database  # noqa: E402
from backend.protocol import encode, reply  # noqa: E402


def median_ms(work: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        engine = database.open_engine(Path(tmp) / "backend.db", pool_size=2)
        with engine.begin() as conn:
            thread = database.create_thread(conn, "u", "t")
            for batch in range(0, args.messages, 100):
                texts = [
                    f"{batch}-{i}-" + "x" * 580 for i in range(min(100, args.messages - batch))
                ]
                database.post_messages(conn, "u", thread, texts)

        def rows() -> list[dict[str, Any]]:
            with engine.begin() as conn:
                found = conn.exec_driver_sql(
                    "SELECT text, created_at FROM messages WHERE thread_id = ? ORDER BY id",
                    (thread,),
                )
                return [{"text": text, "ts": ts} for text, ts in found]

        messages = rows()

        def encoded() -> str:
            return encode(reply("thread", "r", thread_id=thread, messages=messages, db_ms=1.0))

        def built() -> database.ThreadView:
            with engine.begin() as conn:
                return database.thread_view(conn, "u", thread)

        print(f"reply: {len(encoded()):,} characters, {args.messages} messages")
        before = (median_ms(rows, args.repeats), median_ms(encoded, args.repeats))
        print(f"before: rows to dicts {before[0]:.2f} ms, encoding {before[1]:.2f} ms "
              "(interpreter lock held)")  # fmt: skip
        print(
            f"now: SQLite-built arrays {median_ms(built, args.repeats):.2f} ms "
            "(in SQLite's C code, lock released)"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
