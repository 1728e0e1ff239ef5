"""Writes share transactions (group commit) on one writer; a refused write fails alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from backend.database import RunRecord, ThreadForbidden
from backend.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "backend.db", workers=4, delay_ms=lambda op: 0.0)
    yield db
    db.close()


def _count_write_transactions(store: Store) -> list[str]:
    begins: list[str] = []

    @event.listens_for(store._engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            begins.append(statement)

    return begins


@pytest.mark.asyncio
async def test_concurrent_writes_of_every_kind_share_transactions(store: Store) -> None:
    owned = (await store.create_thread("owner", None)).value
    begins = _count_write_transactions(store)
    created = await asyncio.gather(*(store.create_thread(f"user-{i}", "t") for i in range(50)))
    assert len({c.value for c in created}) == 50
    stored = await asyncio.gather(
        *(store.post_messages("owner", owned, [f"m{i}"]) for i in range(20)),
        *(
            store.store_result(RunRecord(f"run-{i}", "owner", owned, "q", "a", ()))
            for i in range(20)
        ),
    )
    assert len(stored) == 40
    assert len(begins) < 40 / 2, "50 + 40 writes in far fewer transactions"
    view = (await store.get_thread("owner", owned)).value
    assert len(json.loads(view.messages_json)) == 20 and len(json.loads(view.results_json)) == 20


@pytest.mark.asyncio
async def test_a_refused_write_fails_alone_in_its_batch(store: Store) -> None:
    alice = (await store.create_thread("alice", None)).value
    outcomes = await asyncio.gather(
        store.post_messages("bob", alice, ["intruder"]),
        store.post_messages("alice", alice, ["mine"]),
        store.create_thread("carol", None),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], ThreadForbidden)
    assert not isinstance(outcomes[1], BaseException) and outcomes[1].value == 1
    assert not isinstance(outcomes[2], BaseException)
    view = (await store.get_thread("alice", alice)).value
    assert [m["text"] for m in json.loads(view.messages_json)] == ["mine"]


@pytest.mark.asyncio
async def test_a_delayed_write_holds_up_no_other_write(tmp_path: Path) -> None:
    delays = {"thread_create": 60_000.0}
    db = Store(tmp_path / "d.db", delay_ms=lambda op: delays.get(op, 0.0))
    try:
        stuck = asyncio.ensure_future(db.create_thread("slow", None))
        await asyncio.sleep(0)  # it has read its delay and is waiting it out
        delays.clear()
        thread = (await db.create_thread("alice", None)).value
        await db.store_result(RunRecord("r", "alice", thread, "q", "a", ()))
        assert not stuck.done()
        stuck.cancel()
    finally:
        await db.aclose()
