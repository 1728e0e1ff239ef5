"""The backend's SQLite schema and statements: the only backend module that knows SQL.

Plain synchronous functions over a SQLAlchemy `Connection`; `backend.store`
decides which thread runs them, in which transaction, and times them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    or_,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

BUSY_TIMEOUT_MS = 10_000

metadata = MetaData()
users = Table(
    "users",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("created_at", Float, nullable=False),
)
threads = Table(
    "threads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(256), ForeignKey("users.id"), nullable=False, index=True),
    Column("title", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thread_id", String(32), ForeignKey("threads.id"), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_messages_thread", "thread_id", "id"),
    Index("ix_messages_user", "user_id", "id"),
)
results = Table(
    "results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False, unique=True),
    Column("thread_id", String(32), ForeignKey("threads.id"), nullable=False, index=True),
    Column("user_id", String(256), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("tools", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)


class StoreError(Exception):
    """Base of the store's refusals."""


class ThreadNotFound(StoreError):
    """No thread has this id."""


class ThreadForbidden(StoreError):
    """The thread belongs to another user."""


@dataclass(frozen=True)
class RunRecord:
    """What one finished agent run leaves behind."""

    run_id: str
    user_id: str
    thread_id: str
    prompt: str
    answer: str
    tools: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ThreadView:
    """One thread as its owner may see it."""

    thread_id: str
    title: str | None
    messages: tuple[dict[str, Any], ...]
    results: tuple[dict[str, Any], ...]


def open_engine(path: Path, pool_size: int) -> Engine:
    """An engine on `path` (parent dirs created) with WAL, busy timeout, explicit BEGIN.

    Transactions begin `DEFERRED` unless the connection carries the execution
    option `sqlite_begin="IMMEDIATE"`, which writers use to take the lock up front.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", pool_size=pool_size, max_overflow=2)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    metadata.create_all(engine)
    return engine


def _now_ms() -> float:
    return time.time() * 1000.0


def create_thread(conn: Connection, user_id: str, title: str | None) -> str:
    """Insert a thread (and its user, once); returns the new thread id."""
    now = _now_ms()
    conn.execute(sqlite_insert(users).values(id=user_id, created_at=now).on_conflict_do_nothing())
    thread_id = uuid.uuid4().hex
    conn.execute(
        threads.insert().values(id=thread_id, user_id=user_id, title=title, created_at=now)
    )
    return thread_id


def check_owner(conn: Connection, user_id: str, thread_id: str) -> None:
    """Raise `ThreadNotFound` or `ThreadForbidden` unless `user_id` owns the thread."""
    owner = conn.execute(select(threads.c.user_id).where(threads.c.id == thread_id)).scalar()
    if owner is None:
        raise ThreadNotFound(thread_id)
    if owner != user_id:
        raise ThreadForbidden(thread_id)


def post_messages(conn: Connection, user_id: str, thread_id: str, texts: Sequence[str]) -> int:
    """Insert a batch of messages into the caller's thread; returns how many."""
    check_owner(conn, user_id, thread_id)
    now = _now_ms()
    rows = [
        {"thread_id": thread_id, "user_id": user_id, "text": text, "created_at": now}
        for text in texts
    ]
    conn.execute(messages.insert(), rows)
    return len(rows)


def thread_view(conn: Connection, user_id: str, thread_id: str) -> ThreadView:
    """The caller's thread with its messages and results, oldest first."""
    check_owner(conn, user_id, thread_id)
    title = conn.execute(select(threads.c.title).where(threads.c.id == thread_id)).scalar()
    message_rows = conn.execute(
        select(messages.c.text, messages.c.created_at)
        .where(messages.c.thread_id == thread_id)
        .order_by(messages.c.id)
    )
    result_rows = conn.execute(
        select(results).where(results.c.thread_id == thread_id).order_by(results.c.id)
    )
    return ThreadView(
        thread_id=thread_id,
        title=title,
        messages=tuple({"text": r.text, "ts": r.created_at} for r in message_rows),
        results=tuple(_result_dict(row) for row in result_rows),
    )


def _result_dict(row: Any) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "prompt": row.prompt,
        "answer": row.answer,
        "tools": json.loads(row.tools),
        "ts": row.created_at,
    }


def search_messages(
    conn: Connection, user_id: str, terms: Sequence[str], limit: int
) -> tuple[str, ...]:
    """The user's own newest messages containing any of `terms` (LIKE, escaped)."""
    if not terms:
        return ()
    matches = or_(*(messages.c.text.contains(term, autoescape=True) for term in terms))
    rows = conn.execute(
        select(messages.c.text)
        .where(messages.c.user_id == user_id, matches)
        .order_by(messages.c.id.desc())
        .limit(limit)
    )
    return tuple(row.text for row in rows)


def insert_results(conn: Connection, records: Sequence[RunRecord]) -> None:
    """Insert the results of finished runs (one statement for the whole batch)."""
    now = _now_ms()
    rows = [
        {
            "run_id": r.run_id,
            "thread_id": r.thread_id,
            "user_id": r.user_id,
            "prompt": r.prompt,
            "answer": r.answer,
            "tools": json.dumps([{"tool": t, "result": v} for t, v in r.tools]),
            "created_at": now,
        }
        for r in records
    ]
    conn.execute(results.insert(), rows)
