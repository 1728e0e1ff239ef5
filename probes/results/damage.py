"""A damaged SQLite results file: found at start, moved aside, a fresh store begun.

A writer that starts on a file that is not an SQLite database, is cut short
(fewer bytes than its header says, with no WAL to make up the rest) or fails
SQLite's ``quick_check`` moves it (and its ``-wal``/``-shm``) to
``<file>.damaged-<UTC time>``, logs where, and starts a fresh, empty store: the
monitor keeps recording instead of failing at every start. The damaged file is
kept for whoever wants to recover it; nothing is deleted.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("slawatch.store")
MAGIC = b"SQLite format 3\x00"
HEADER = 100


def header_problem(path: Path) -> str | None:
    """What is wrong with the file's header (None: it looks like a whole SQLite file)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return None  # an empty file is an empty database
        with path.open("rb") as handle:
            head = handle.read(HEADER)
    except FileNotFoundError:
        return None
    if len(head) < HEADER:
        return f"only {size} bytes: shorter than an SQLite header"
    if not head.startswith(MAGIC):
        return "not an SQLite database (no SQLite header)"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    header_valid = head[24:28] == head[92:96]
    wal = path.with_name(path.name + "-wal")
    has_wal = wal.exists() and wal.stat().st_size > 0
    if header_valid and not has_wal and size < pages * page_size:
        return f"truncated: {size} bytes of the {pages * page_size} its header names"
    return None


def quick_check(path: Path) -> str | None:
    """SQLite's ``quick_check`` of the file (read-only); None when it says ok."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = conn.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return None  # busy, not damaged: the writer's own open will wait for it
        return str(exc)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    found = [str(r[0]) for r in rows]
    return None if found == ["ok"] else "; ".join(found)


def move_aside(path: Path, problem: str, now: datetime | None = None) -> Path:
    """Rename the file and its WAL/SHM to ``.damaged-<time>``; returns the new path."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    log.error(
        "results store %s is damaged (%s): moved aside to %s; starting a fresh store",
        path,
        problem,
        target,
    )
    return target
