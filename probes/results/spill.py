"""The spill file: measured rounds the store could not take, kept on disk until it can.

When the store stays locked, full or unreachable past ``[store] lock_wait``, a
writer appends each unsaved round to the spill file as one JSON line (fsynced),
so that no measured round is lost with the process. Every writer start
(``slawatch probe``, ``run``, ``up``) imports the file into the store before it
writes anything else: rounds already stored (by run id) are skipped, the others
saved, and the file keeps only what still could not be saved. A line cut off by a
crash mid-write is skipped with a warning. The file is locked (``flock``) while it
is appended to or imported, so two processes never lose each other's lines.

Where: beside an SQLite store, ``<file>.spill.jsonl``; for other databases
``$XDG_STATE_HOME/slawatch/spill-<digest of the URL>.jsonl`` (default
``~/.local/state/slawatch``); ``[store] spill_file`` overrides both.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import URL

from probes.records import AuthCheck, DbTiming, Event, MemorySample, RoundResult, SessionResult
from probes.results import opening

log = logging.getLogger("slawatch.store")


def spill_path(url: URL, configured: str = "") -> Path:
    """Where rounds for the store at ``url`` are spilled (see the module docstring)."""
    if configured:
        return Path(configured)
    path = opening.sqlite_path(url)
    if path is not None:
        return path.with_name(path.name + ".spill.jsonl")
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(opening.shown(url).encode()).hexdigest()[:16]
    return state / "slawatch" / f"spill-{digest}.jsonl"


def encode(r: RoundResult) -> str:
    """One round as one line of JSON (times as ISO 8601 with their offset)."""
    return json.dumps(asdict(r), default=_iso, separators=(",", ":"))


def decode(line: str) -> RoundResult:
    """The round ``encode`` wrote (``ValueError``/``KeyError``/``TypeError`` if it is not one)."""
    d = json.loads(line)
    sessions = tuple(_session(s) for s in d.pop("sessions"))
    auth = d.pop("auth_check")
    return RoundResult(
        **{k: v for k, v in d.items() if k not in ("db_timings", "memory_samples")}
        | {"started_at": _dt(d["started_at"]), "finished_at": _dt(d["finished_at"])},
        sessions=sessions,
        auth_check=None if auth is None else AuthCheck(**auth),
        db_timings=tuple(DbTiming(**t) for t in d["db_timings"]),
        memory_samples=tuple(MemorySample(_dt(m["at"]), m["rss_mb"]) for m in d["memory_samples"]),
    )


def append(path: Path, rounds: Sequence[RoundResult]) -> None:
    """Add ``rounds`` to the spill file, durably (fsync) and under its lock."""
    if not rounds:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path) as handle:
        handle.seek(0, os.SEEK_END)
        handle.write("".join(encode(r) + "\n" for r in rounds))
        handle.flush()
        os.fsync(handle.fileno())


def import_into(path: Path, save: Callable[[RoundResult], bool]) -> int:
    """Save every spilled round with ``save`` (False: already stored); returns how many.

    The file then keeps only the rounds ``save`` raised for (and is removed when
    none is left); the exception, if any, is raised after the file is rewritten.
    """
    if not path.exists():
        return 0
    imported = 0
    with _locked(path) as handle:
        left: list[str] = []
        failure: BaseException | None = None
        for number, line in enumerate(handle.read().splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = decode(line)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("spill file %s line %d is not a round, skipped: %s", path, number, exc)
                continue
            if failure is not None:
                left.append(line)
                continue
            try:
                imported += save(r)
            except Exception as exc:
                failure = exc
                left.append(line)
        handle.seek(0)
        handle.truncate()
        handle.write("".join(f"{line}\n" for line in left))
        handle.flush()
        os.fsync(handle.fileno())
        if not left:
            path.unlink()
    if imported:
        log.warning("imported %d spilled round(s) from %s", imported, path)
    if failure is not None:
        raise failure
    return imported


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    """The file, opened and locked; reopened if an importer removed it meanwhile."""
    while True:
        handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    with handle:
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _session(d: dict[str, Any]) -> SessionResult:
    return SessionResult(
        **d
        | {
            "started_at": _dt(d["started_at"]),
            "events": tuple(Event(**e) for e in d["events"]),
            "missing_events": tuple(d["missing_events"]),
        }
    )


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot spill {type(value).__name__}")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)
