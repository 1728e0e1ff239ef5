"""The backend store on a real SQLite file: WAL, locking, ownership, timings."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from backend.database import RunRecord, ThreadForbidden, ThreadNotFound
from backend.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "nested" / "dir" / "backend.db", workers=4, delay_ms=lambda op: 0.0)
    yield db
    db.close()


def test_database_file_is_created_in_wal_mode(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "backend.db"
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {"users", "threads", "messages", "results"} <= tables


@pytest.mark.asyncio
async def test_writes_take_the_lock_up_front_and_reads_do_not(store: Store) -> None:
    begins: list[str] = []

    @event.listens_for(store._engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    thread = await store.create_thread("alice", None)
    await store.post_messages("alice", thread.value, ["a"])
    await store.get_thread("alice", thread.value)
    assert begins == ["BEGIN IMMEDIATE", "BEGIN IMMEDIATE", "BEGIN DEFERRED"]


@pytest.mark.asyncio
async def test_thread_round_trip_with_timings(store: Store) -> None:
    created = await store.create_thread("alice", "title")
    stored = await store.post_messages("alice", created.value, ["one", "two"])
    await store.store_result(RunRecord("run1", "alice", created.value, "q", "a", (("echo", "x"),)))
    view = await store.get_thread("alice", created.value)
    assert stored.value == 2
    assert view.value.title == "title"
    assert [m["text"] for m in json.loads(view.value.messages_json)] == ["one", "two"]
    [result] = json.loads(view.value.results_json)
    assert (result["run_id"], result["prompt"], result["answer"]) == ("run1", "q", "a")
    assert result["tools"] == [{"tool": "echo", "result": "x"}]
    assert all(t.db_ms >= 0 for t in (created, stored, view))


@pytest.mark.asyncio
@pytest.mark.parametrize("operation", ["get_thread", "post_messages", "check_thread"])
async def test_other_users_threads_are_forbidden_unknown_ones_not_found(
    store: Store, operation: str
) -> None:
    thread = (await store.create_thread("alice", None)).value
    calls = {
        "get_thread": lambda user, tid: store.get_thread(user, tid),
        "post_messages": lambda user, tid: store.post_messages(user, tid, ["x"]),
        "check_thread": lambda user, tid: store.check_thread(user, tid),
    }
    with pytest.raises(ThreadForbidden):
        await calls[operation]("bob", thread)
    with pytest.raises(ThreadNotFound):
        await calls[operation]("bob", "f" * 32)
    assert (await store.get_thread("alice", thread)).value.messages_json == "[]"


@pytest.mark.asyncio
async def test_search_sees_only_the_users_own_messages(store: Store) -> None:
    mine = (await store.create_thread("alice", None)).value
    theirs = (await store.create_thread("bob", None)).value
    await store.post_messages("alice", mine, ["apple pie", "banana", "100% apple"])
    await store.post_messages("bob", theirs, ["apple secret"])
    found = await store.search_messages("alice", ["apple"])
    assert found.value == ("100% apple", "apple pie")
    assert (await store.search_messages("alice", ["%"])).value == ("100% apple",)
    assert (await store.search_messages("alice", [])).value == ()


@pytest.mark.asyncio
async def test_injected_delay_shows_in_db_ms(tmp_path: Path) -> None:
    delays = {"thread_create": 150.0}
    db = Store(tmp_path / "d.db", delay_ms=lambda op: delays.get(op, 0.0))
    try:
        created = await db.create_thread("alice", None)
        assert created.db_ms >= 150
    finally:
        db.close()


def _reads_of_threads(store: Store) -> list[str]:
    """The thread-content statements the store runs, as they run."""
    seen: list[str] = []

    @event.listens_for(store._engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "json_group_array" in statement:
            seen.append(statement)

    return seen


@pytest.mark.asyncio
async def test_a_thread_read_again_is_remembered_until_it_is_written(store: Store) -> None:
    reads = _reads_of_threads(store)
    thread = (await store.create_thread("alice", None)).value
    await store.post_messages("alice", thread, ["one"])
    first = await store.get_thread("alice", thread)
    again = await store.get_thread("alice", thread)
    assert again.value == first.value
    assert len(reads) == 2  # messages and results, once
    with pytest.raises(ThreadForbidden):  # a remembered answer is still its owner's only
        await store.get_thread("bob", thread)
    await store.post_messages("alice", thread, ["two"])
    texts = [
        m["text"] for m in json.loads((await store.get_thread("alice", thread)).value.messages_json)
    ]
    assert texts == ["one", "two"]
    await store.store_result(RunRecord("run1", "alice", thread, "q", "a", ()))
    [result] = json.loads((await store.get_thread("alice", thread)).value.results_json)
    assert result["run_id"] == "run1"


@pytest.mark.asyncio
async def test_a_read_running_while_the_thread_is_written_is_not_remembered(
    store: Store,
) -> None:
    thread = (await store.create_thread("alice", None)).value
    await store.post_messages("alice", thread, ["one"])
    entered, release = threading.Event(), threading.Event()

    @event.listens_for(store._engine, "before_cursor_execute")
    def hold(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "json_group_array" in statement and not release.is_set():
            entered.set()  # the read's snapshot is taken: it saw the thread before "two"
            release.wait(30)

    running = asyncio.create_task(store.get_thread("alice", thread))
    await asyncio.to_thread(entered.wait, 30)
    await store.post_messages("alice", thread, ["two"])  # committed while the read runs
    release.set()
    await running
    view = await store.get_thread("alice", thread)
    assert [m["text"] for m in json.loads(view.value.messages_json)] == ["one", "two"]
