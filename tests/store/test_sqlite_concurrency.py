"""SQLite in WAL mode: the dashboard reads while a probe writes, and the other way round."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probes.records import Annotation, RoundResult, SessionResult
from probes.results import ResultStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def a_round(run_id: str, users: int) -> RoundResult:
    items = tuple(
        SessionResult(run_id, "chat", "ws://a/ws", "eu-1", f"u{i}", "header", T0, outcome="ok")
        for i in range(users)
    )
    return RoundResult(run_id, "chat", "ws://a/ws", "eu-1", T0, T0, "passed", sessions=items)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "slawatch.db"


@pytest.fixture
def store(path: Path) -> Iterator[ResultStore]:
    # A short busy timeout: were anything to wait for a lock, the test fails fast.
    with ResultStore.open(f"sqlite:///{path}", busy_timeout_ms=200) as opened:
        yield opened


def test_the_database_is_in_wal_mode(store: ResultStore, path: Path) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_reader_is_not_blocked_by_an_open_write_transaction(
    store: ResultStore, path: Path
) -> None:
    store.save_round(a_round("r1", 2))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO annotations (kind, start, text) VALUES ('deploy', ?, 'uncommitted')",
            ("2025-03-01 12:00:00.000000",),
        )
        assert store.annotations_between(T0, T0 + HOUR) == []
        assert len(store.sessions_between(T0, T0 + HOUR)) == 2
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert [a.text for a in store.annotations_between(T0, T0 + HOUR)] == ["uncommitted"]


def test_a_writer_commits_while_a_reader_holds_a_snapshot(store: ResultStore) -> None:
    store.save_round(a_round("r1", 3))
    reading = store.iter_sessions(T0, T0 + HOUR)
    first = next(reading)  # the read transaction stays open while the generator waits
    store.save_round(a_round("r2", 2))
    store.add_annotation(Annotation("deploy", T0, None, "v2"))
    rest = list(reading)
    assert [row["run_id"] for row in (first, *rest)] == ["r1", "r1", "r1"]
    assert len(store.sessions_between(T0, T0 + HOUR)) == 5
