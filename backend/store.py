"""Timed, thread-pooled access to the backend database, for the event loop.

Every operation runs in a dedicated thread pool (never on the event loop)
in one transaction, and reports its server-side duration in milliseconds
(`db_ms`), including any injected `db_delay_ms` fault (slept in the pool
thread, before the transaction, so it never holds SQLite's lock). Writes
take SQLite's lock up front (`BEGIN IMMEDIATE`) and are serialised
in-process by a lock, so concurrent writers queue fairly instead of
spinning in SQLite's busy handler.

Run results use group commit: results that arrive while a result write is
in flight are written together in the next transaction, so under load the
per-run cost is a share of one thread hop and one commit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import Connection

from backend import database
from backend.database import RunRecord, ThreadView

T = TypeVar("T")


@dataclass(frozen=True)
class Timed(Generic[T]):
    """An operation's value and its server-side duration in milliseconds."""

    value: T
    db_ms: float


def _timed(delay_s: float, work: Callable[[], T]) -> Timed[T]:
    started = time.perf_counter()
    if delay_s > 0:
        time.sleep(delay_s)
    value = work()
    return Timed(value, round((time.perf_counter() - started) * 1000.0, 3))


class Store:
    """The backend's database as awaitable, timed operations."""

    def __init__(self, path: Path, *, workers: int = 8, delay_ms: Callable[[str], float]) -> None:
        self._engine = database.open_engine(path, pool_size=workers)
        self._writer = self._engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store")
        self._delay_ms = delay_ms
        self._results = _GroupCommit(self)

    async def aclose(self) -> None:
        """Finish pending result writes, stop the pool, close the connections."""
        await self._results.drain()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Stop the pool (waiting for running operations) and close connections."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._engine.dispose()

    async def run(self, operation: str, work: Callable[[], T]) -> Timed[T]:
        """Run `work` in the pool, after the `db_delay_ms` fault for `operation`, timed."""
        # The fault is read on the loop thread; the sleep happens in the pool.
        delay_s = self._delay_ms(operation) / 1000.0
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _timed, delay_s, work)

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction (pool thread only)."""
        with self._write_lock, self._writer.begin() as conn:
            return work(conn)

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a read transaction (pool thread only)."""
        with self._engine.begin() as conn:
            return work(conn)

    async def create_thread(self, user_id: str, title: str | None) -> Timed[str]:
        """Create a thread for `user_id` (registering the user); returns its id."""
        work = partial(database.create_thread, user_id=user_id, title=title)
        return await self.run("thread_create", lambda: self.write(work))

    async def check_thread(self, user_id: str, thread_id: str) -> Timed[None]:
        """Raise unless `thread_id` exists and belongs to `user_id`."""
        work = partial(database.check_owner, user_id=user_id, thread_id=thread_id)
        return await self.run("data_retrieval", lambda: self.read(work))

    async def post_messages(self, user_id: str, thread_id: str, texts: Sequence[str]) -> Timed[int]:
        """Store a batch of messages in one transaction; returns how many."""
        work = partial(database.post_messages, user_id=user_id, thread_id=thread_id, texts=texts)
        return await self.run("message_batch", lambda: self.write(work))

    async def get_thread(self, user_id: str, thread_id: str) -> Timed[ThreadView]:
        """The thread with its messages and results, for its owner only."""
        work = partial(database.thread_view, user_id=user_id, thread_id=thread_id)
        return await self.run("data_retrieval", lambda: self.read(work))

    async def search_messages(
        self, user_id: str, terms: Sequence[str], limit: int = 5
    ) -> Timed[tuple[str, ...]]:
        """The user's own newest messages containing any of `terms`."""
        work = partial(database.search_messages, user_id=user_id, terms=terms, limit=limit)
        return await self.run("data_retrieval", lambda: self.read(work))

    async def store_result(self, record: RunRecord) -> Timed[None]:
        """Keep the outcome of one finished run; `db_ms` is its transaction's time."""
        return await self._results.add(record)


class _GroupCommit:
    """Writes run results in batches: one transaction per batch, one batch at a time."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[RunRecord, asyncio.Future[Timed[None]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def add(self, record: RunRecord) -> Timed[None]:
        future: asyncio.Future[Timed[None]] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def drain(self) -> None:
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._write(batch)
        finally:
            self._flusher = None

    async def _write(self, batch: list[tuple[RunRecord, asyncio.Future[Timed[None]]]]) -> None:
        records = [record for record, _ in batch]
        work = partial(database.insert_results, records=records)
        try:
            timed = await self._store.run("result_store", lambda: self._store.write(work))
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(timed)
