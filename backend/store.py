"""Timed access to the backend database for the event loop: a read pool and one writer.

Reads run in a thread pool (never on the event loop), each in its own
transaction; whole-thread reads (`get_thread`, as large as the thread) have
a pool of their own with one thread: many of them at once would hold the
interpreter lock in turns against the event loop and queue the small reads
of everyone else's chats behind them (the abusers of issue 10.7), so they
wait for each other instead. Writes (new threads, message batches, run results) go through
one queue to one writer thread, with group commit: whatever is queued while
a write transaction runs is written together in the next one (`BEGIN
IMMEDIATE`, one commit, one thread hop). So there is never more than one
writer and nothing waits on a lock; under load the per-chat cost is a share
of one transaction. A write refused for its own reason (a thread that is not
the caller's) fails alone; a failing transaction fails its whole batch.

Whole-thread reads are remembered: a thread's answer is kept (a least recently
used cache bounded by the bytes of the answers, `VIEW_CACHE_BYTES`) with the
thread's owner until the thread is next written: every write to it (messages,
a run's result) drops the answer once it has committed and before its caller
hears of it, and a read that was running meanwhile keeps nothing (it may have
read from before the write). So a client told that its write was stored
never reads an answer from before it; the same thread asked for again and
again (the abusers of issue 10.7) costs a lookup, not a read.

Every operation reports its server-side duration in milliseconds (`db_ms`):
from the request to the store until its answer, so queueing shows, plus any
injected `db_delay_ms` fault, which is awaited before the operation starts
(it never holds a thread, the writer or SQLite's lock).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

from cachetools import LRUCache
from sqlalchemy import Connection

from backend import database
from backend.database import RunRecord, StoreError, ThreadView

T = TypeVar("T")
BULK_WORKERS = 1  # threads for whole-thread reads (see the module's docstring)
VIEW_CACHE_BYTES = 32 << 20  # the thread answers kept, by the characters of their JSON


@dataclass(frozen=True)
class Timed(Generic[T]):
    """An operation's value and its server-side duration in milliseconds."""

    value: T
    db_ms: float


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


class Store:
    """The backend's database as awaitable, timed operations."""

    def __init__(self, path: Path, *, workers: int = 8, delay_ms: Callable[[str], float]) -> None:
        self._engine = database.open_engine(path, pool_size=workers + BULK_WORKERS)
        self._writer_engine = self._engine.execution_options(sqlite_begin="IMMEDIATE")
        self._readers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store-read")
        self._bulk = ThreadPoolExecutor(max_workers=BULK_WORKERS, thread_name_prefix="store-bulk")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write")
        self._delay_ms = delay_ms
        self._writes = _GroupCommit(self)
        # thread id -> (owner, answer); of the threads being read: reads, writes meanwhile
        self._views: LRUCache[str, tuple[str, ThreadView]] = LRUCache(
            VIEW_CACHE_BYTES, getsizeof=_view_size
        )
        self._reading: dict[str, int] = {}
        self._written_while_read: dict[str, int] = {}

    async def aclose(self) -> None:
        """Finish pending writes, stop the threads, close the connections."""
        await self._writes.drain()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Stop the threads (waiting for running operations) and close connections."""
        self._writer.shutdown(wait=True, cancel_futures=True)
        self._readers.shutdown(wait=True, cancel_futures=True)
        self._bulk.shutdown(wait=True, cancel_futures=True)
        self._engine.dispose()

    async def _delay(self, operation: str) -> None:
        delay_s = self._delay_ms(operation) / 1000.0
        if delay_s > 0:
            await asyncio.sleep(delay_s)

    async def _read(
        self, operation: str, work: Callable[[Connection], T], *, bulk: bool = False
    ) -> Timed[T]:
        started = time.perf_counter()
        await self._delay(operation)
        loop = asyncio.get_running_loop()
        pool = self._bulk if bulk else self._readers
        value = await loop.run_in_executor(pool, self._read_transaction, work)
        return Timed(value, _ms_since(started))

    def _read_transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    async def _write(self, operation: str, work: Callable[[Connection], T]) -> Timed[T]:
        started = time.perf_counter()
        await self._delay(operation)
        value = await self._writes.add(work)
        return Timed(value, _ms_since(started))

    async def commit(self, batch: list[_Pending]) -> None:
        """Write `batch` in one transaction on the writer thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._write_batch, batch)

    def _write_batch(self, batch: list[_Pending]) -> None:
        with self._writer_engine.begin() as conn:
            for pending in batch:
                try:
                    pending.value = pending.work(conn)
                except StoreError as exc:  # refused before it wrote anything
                    pending.error = exc

    async def create_thread(self, user_id: str, title: str | None) -> Timed[str]:
        """Create a thread for `user_id` (registering the user); returns its id."""
        work = partial(database.create_thread, user_id=user_id, title=title)
        return await self._write("thread_create", work)

    async def check_thread(self, user_id: str, thread_id: str) -> Timed[None]:
        """Raise unless `thread_id` exists and belongs to `user_id`."""
        work = partial(database.check_owner, user_id=user_id, thread_id=thread_id)
        return await self._read("data_retrieval", work)

    async def post_messages(self, user_id: str, thread_id: str, texts: Sequence[str]) -> Timed[int]:
        """Store a batch of messages (one transaction, shared with concurrent writes)."""
        work = partial(database.post_messages, user_id=user_id, thread_id=thread_id, texts=texts)
        try:
            return await self._write("message_batch", work)
        finally:
            self._written(thread_id)

    async def get_thread(self, user_id: str, thread_id: str) -> Timed[ThreadView]:
        """The thread with its messages and results, for its owner only (remembered until
        the thread is next written)."""
        started = time.perf_counter()
        await self._delay("data_retrieval")
        kept = self._views.get(thread_id)
        if kept is not None and kept[0] == user_id:
            return Timed(kept[1], _ms_since(started))
        work = partial(database.thread_view, user_id=user_id, thread_id=thread_id)
        loop = asyncio.get_running_loop()
        self._reading[thread_id] = self._reading.get(thread_id, 0) + 1
        writes = self._written_while_read.get(thread_id, 0)
        try:
            view = await loop.run_in_executor(self._bulk, self._read_transaction, work)
        finally:
            clean = self._written_while_read.get(thread_id, 0) == writes
            self._reading[thread_id] -= 1
            if not self._reading[thread_id]:
                del self._reading[thread_id]
                self._written_while_read.pop(thread_id, None)
        if clean and _view_size(view) <= VIEW_CACHE_BYTES // 4:
            self._views[thread_id] = (user_id, view)  # no write to it committed meanwhile
        return Timed(view, _ms_since(started))

    def _written(self, thread_id: str) -> None:
        """A write to the thread committed (or failed): forget its answer, and tell the
        reads of it still running that theirs may be from before the write."""
        self._views.pop(thread_id, None)
        if thread_id in self._reading:
            self._written_while_read[thread_id] = self._written_while_read.get(thread_id, 0) + 1

    async def search_messages(
        self, user_id: str, terms: Sequence[str], limit: int = 5
    ) -> Timed[tuple[str, ...]]:
        """The user's own newest messages containing any of `terms`."""
        work = partial(database.search_messages, user_id=user_id, terms=terms, limit=limit)
        return await self._read("data_retrieval", work)

    async def store_result(self, record: RunRecord) -> Timed[None]:
        """Keep the outcome of one finished run; `db_ms` includes its batch's transaction."""
        try:
            return await self._write(
                "result_store", partial(database.insert_results, records=[record])
            )
        finally:
            self._written(record.thread_id)


class _Pending:
    """One queued write: its work, then its value or its own refusal."""

    __slots__ = ("error", "future", "value", "work")

    def __init__(self, work: Callable[[Connection], Any], future: asyncio.Future[Any]) -> None:
        self.work = work
        self.future = future
        self.value: Any = None
        self.error: BaseException | None = None


class _GroupCommit:
    """Queues writes; one flusher writes each batch in one transaction on the writer thread."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def add(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Pending(work, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await future

    async def drain(self) -> None:
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._commit(batch)
        finally:
            self._flusher = None

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            await self._store.commit(batch)
        except Exception as exc:  # the transaction failed: so did every write in it
            for pending in batch:
                pending.error = exc
        for pending in batch:
            if pending.future.done():
                continue
            if pending.error is not None:
                pending.future.set_exception(pending.error)
            else:
                pending.future.set_result(pending.value)


def _view_size(entry: tuple[str, ThreadView] | ThreadView) -> int:
    """What a kept answer costs, roughly: the characters of its JSON."""
    view = entry[1] if isinstance(entry, tuple) else entry
    return len(view.messages_json) + len(view.results_json) + 256
