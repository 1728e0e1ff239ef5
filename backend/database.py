"""The backend's SQLite schema and statements: the only backend module that knows SQL.

Plain synchronous functions over a SQLAlchemy `Connection`; `backend.store`
decides which thread runs them, in which transaction, and times them.

The schema is declared with SQLAlchemy (it creates the tables), but the
statements on the chat path are constant SQL strings run with
`exec_driver_sql`: building and compiling Core constructs for every call was
most of the backend's DB cost per chat (docs/benchmarks.md), while a constant
string skips SQLAlchemy's compilation and hits sqlite3's own statement cache.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
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
)

BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 1024  # SQLite page cache per connection (its default is 2000 KiB)

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
    """One thread as its owner may see it; messages and results as JSON arrays (text).

    SQLite builds the arrays (`json_group_array`) in C, with the interpreter lock
    released: a large thread costs the event loop a string splice, not a thousand
    dicts built and encoded (issue 10.7: clients reading large threads in a loop
    held the lock against everyone else's chats)."""

    thread_id: str
    title: str | None
    messages_json: str
    results_json: str


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
        # A bounded page cache per connection (the pool holds up to workers + 3 of
        # them): the backend's RSS levels off instead of growing with the database.
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    metadata.create_all(engine)
    return engine


def _now_ms() -> float:
    return time.time() * 1000.0


INSERT_USER = "INSERT INTO users (id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING"
INSERT_THREAD = "INSERT INTO threads (id, user_id, title, created_at) VALUES (?, ?, ?, ?)"
THREAD_OWNER = "SELECT user_id, title FROM threads WHERE id = ?"
INSERT_MESSAGE = "INSERT INTO messages (thread_id, user_id, text, created_at) VALUES (?, ?, ?, ?)"
# The subqueries' ORDER BY keeps the arrays oldest first (SQLite does not flatten an
# ordered subquery into an aggregate).
THREAD_MESSAGES = (
    "SELECT json_group_array(json_object('text', text, 'ts', created_at)) FROM "
    "(SELECT text, created_at FROM messages WHERE thread_id = ? ORDER BY id)"
)
THREAD_RESULTS = (
    "SELECT json_group_array(json_object('run_id', run_id, 'prompt', prompt, 'answer', answer, "
    "'tools', json(tools), 'ts', created_at)) FROM "
    "(SELECT run_id, prompt, answer, tools, created_at FROM results WHERE thread_id = ? "
    "ORDER BY id)"
)
INSERT_RESULT = (
    "INSERT INTO results (run_id, thread_id, user_id, prompt, answer, tools, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def create_thread(conn: Connection, user_id: str, title: str | None) -> str:
    """Insert a thread (and its user, once); returns the new thread id."""
    now = _now_ms()
    conn.exec_driver_sql(INSERT_USER, (user_id, now))
    thread_id = uuid.uuid4().hex
    conn.exec_driver_sql(INSERT_THREAD, (thread_id, user_id, title, now))
    return thread_id


def _owned(conn: Connection, user_id: str, thread_id: str) -> str | None:
    """The thread's title, or `ThreadNotFound` / `ThreadForbidden` unless `user_id` owns it."""
    row = conn.exec_driver_sql(THREAD_OWNER, (thread_id,)).first()
    if row is None:
        raise ThreadNotFound(thread_id)
    if row[0] != user_id:
        raise ThreadForbidden(thread_id)
    return row[1]


def check_owner(conn: Connection, user_id: str, thread_id: str) -> None:
    """Raise `ThreadNotFound` or `ThreadForbidden` unless `user_id` owns the thread."""
    _owned(conn, user_id, thread_id)


def post_messages(conn: Connection, user_id: str, thread_id: str, texts: Sequence[str]) -> int:
    """Insert a batch of messages into the caller's thread; returns how many."""
    _owned(conn, user_id, thread_id)
    now = _now_ms()
    conn.exec_driver_sql(INSERT_MESSAGE, [(thread_id, user_id, text, now) for text in texts])
    return len(texts)


def thread_view(conn: Connection, user_id: str, thread_id: str) -> ThreadView:
    """The caller's thread with its messages and results, oldest first."""
    title = _owned(conn, user_id, thread_id)
    return ThreadView(
        thread_id=thread_id,
        title=title,
        messages_json=conn.exec_driver_sql(THREAD_MESSAGES, (thread_id,)).scalar_one(),
        results_json=conn.exec_driver_sql(THREAD_RESULTS, (thread_id,)).scalar_one(),
    )


@lru_cache(maxsize=32)
def _search_sql(term_count: int) -> str:
    matches = " OR ".join(["text LIKE ? ESCAPE '/'"] * term_count)
    return f"SELECT text FROM messages WHERE user_id = ? AND ({matches}) ORDER BY id DESC LIMIT ?"


def _like_pattern(term: str) -> str:
    escaped = term.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


def search_messages(
    conn: Connection, user_id: str, terms: Sequence[str], limit: int
) -> tuple[str, ...]:
    """The user's own newest messages containing any of `terms` (LIKE, escaped)."""
    if not terms:
        return ()
    params = (user_id, *(_like_pattern(term) for term in terms), limit)
    rows = conn.exec_driver_sql(_search_sql(len(terms)), params)
    return tuple(text for (text,) in rows)


def insert_results(conn: Connection, records: Sequence[RunRecord]) -> None:
    """Insert the results of finished runs (one statement for the whole batch)."""
    now = _now_ms()
    rows = [
        (
            r.run_id,
            r.thread_id,
            r.user_id,
            r.prompt,
            r.answer,
            json.dumps([{"tool": t, "result": v} for t, v in r.tools]),
            now,
        )
        for r in records
    ]
    conn.exec_driver_sql(INSERT_RESULT, rows)
