"""The SQLite file under faults: a long reader (the WAL stays bounded on disk), a damaged
or truncated file (moved aside, a fresh store started, no crash loop), a full disk
(SQLite's ``max_page_count`` as the limit: a clear error, nothing half-written)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probes.errors import RoundNotSaved
from probes.results import ResultStore
from probes.results.engine import JOURNAL_SIZE_LIMIT
from tests.cli.conftest import slawatch
from tests.support.crash_writer import expected_round

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_wal_shrinks_back_after_a_long_reader(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with ResultStore.open(f"sqlite:///{path}") as store:
        store.save_round(expected_round("first"))
        reader = sqlite3.connect(path)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM rounds").fetchone()  # holds its snapshot
        number = 0
        while _wal(path) <= 2 * JOURNAL_SIZE_LIMIT:  # checkpoints cannot pass the reader
            store.save_round(expected_round(f"r{number}"))
            number += 1
        reader.close()
        for extra in range(3):  # ordinary writes: an automatic checkpoint, then a reset
            store.save_round(expected_round(f"after-{extra}"))
        assert _wal(path) <= JOURNAL_SIZE_LIMIT
        store.checkpoint()
        assert _wal(path) == 0
        assert len(store.rounds_between(EPOCH, FAR)) == number + 4


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.write_bytes(b"this is not a database" * 100), "not an SQLite database"),
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated"),
        (lambda p: p.write_bytes(b"SQLite"), "shorter than an SQLite header"),
    ],
    ids=["garbage", "truncated", "stub"],
)
def test_a_damaged_file_is_moved_aside_and_a_fresh_store_starts(
    tmp_path: Path, damage: object, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "data" / "slawatch.db"
    url = f"sqlite:///{path}"
    with ResultStore.open(url) as store:
        for number in range(30):
            store.save_round(expected_round(f"old-{number}"))
        store.checkpoint()
    original = path.read_bytes()
    damage(path)  # type: ignore[operator]
    with ResultStore.open(url) as store:
        assert store.rounds_between(EPOCH, FAR) == []
        store.save_round(expected_round("new"))
    (aside,) = path.parent.glob("slawatch.db.damaged-*")
    assert aside.read_bytes() != original  # the damaged file itself, kept
    assert problem in caplog.text and str(aside) in caplog.text
    with ResultStore.open(url) as store:  # the next start is an ordinary one
        assert [r["run_id"] for r in store.rounds_between(EPOCH, FAR)] == ["new"]
    assert len(list(path.parent.glob("slawatch.db.damaged-*"))) == 1


def test_a_reader_meets_a_damaged_file_with_one_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a database" * 100)
    done = slawatch("export", "sessions", "--db", f"sqlite:///{path}")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"slawatch: results store sqlite:///{path}: the file is damaged")
    assert path.read_bytes().startswith(b"this is not")  # a reader moves nothing


def test_a_full_disk_is_a_clear_error_and_nothing_half_written(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    url = f"sqlite:///{path}"
    ResultStore.open(url).close()
    with sqlite3.connect(path) as raw:
        (pages,) = raw.execute("PRAGMA page_count").fetchone()
    saved = []
    with ResultStore.open(url, max_pages=pages + 40) as store:
        with pytest.raises(RoundNotSaved, match="database or disk is full"):
            for number in range(10_000):
                store.save_round(expected_round(f"r{number}"))
                saved.append(f"r{number}")
        stored = {r["run_id"] for r in store.rounds_between(EPOCH, FAR)}
        sessions = len(store.sessions_between(EPOCH, FAR))
    assert stored == set(saved) and saved
    assert sessions == sum(len(expected_round(r).sessions) for r in saved)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA quick_check").fetchall() == [("ok",)]
