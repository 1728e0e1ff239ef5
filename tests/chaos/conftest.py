"""The chaos suite: real processes on loopback, faults injected from outside, and each
scenario asserting what is stored against what really happened.

Fixtures:

- ``backend``: the built-in backend as a child process (module scope).
- ``proxy``: a ``FaultProxy`` in front of that backend (``tests/support/fault_proxy.py``),
  reset to ``pass`` for every test.
- ``store_url``: an empty results store, on SQLite and (with ``SLAWATCH_TEST_PG_URL``)
  on PostgreSQL, one fresh schema per test.
- ``sqlite_url``: an SQLite store only (scenarios about SQLite files).
- ``hold_write_lock``: a context manager that holds the store's write lock from another
  connection (SQLite ``BEGIN IMMEDIATE``; PostgreSQL an exclusive lock on the tables a
  round is written to) until it exits: a lock stall, on either database.

Long scenarios are marked ``chaos_long`` and run with small counts by default; the
full-size commands are in ``docs/chaos.md``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.support.backend_process import Backend, start_backends, stop_backends
from tests.support.databases import fresh_pg_schema
from tests.support.fault_proxy import FaultProxy

PG_URL = os.environ.get("SLAWATCH_TEST_PG_URL", "")
STORES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
STORE_TABLES = ("rounds", "sessions", "session_events", "session_rollup_minute")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos_long: a long chaos scenario (small by default; docs/chaos.md)"
    )


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp("chaos-backend")
    (started,) = start_backends(tmp, ())
    yield started
    stop_backends([started])


@pytest.fixture(scope="module")
def _module_proxy(backend: Backend) -> Iterator[FaultProxy]:
    port = int(backend.url.rsplit(":", 1)[1].split("/", 1)[0])
    with FaultProxy(port) as proxy:
        yield proxy


@pytest.fixture
def proxy(_module_proxy: FaultProxy) -> FaultProxy:
    """The module's proxy, back to plain forwarding for this test."""
    _module_proxy.mode = "pass"
    _module_proxy.strip_headers = ()
    _module_proxy.slow_bytes_s = 0.0
    _module_proxy.slow_request_s = 0.0
    return _module_proxy


def proxied(backend: Backend, proxy: FaultProxy) -> str:
    """The backend's ws:// URL, through the proxy."""
    path = backend.url.split("/", 3)[3]
    return f"ws://{proxy.url}/{path}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'slawatch.db'}"


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'slawatch.db'}"
        return
    with fresh_pg_schema() as url:
        yield url


@contextlib.contextmanager
def hold_write_lock(url: str) -> Iterator[None]:
    """Hold the store's write lock from another connection until the block ends.

    SQLite: ``BEGIN IMMEDIATE`` on the file. PostgreSQL: ``ACCESS EXCLUSIVE`` on the
    tables a round is written to (what any lock on the data does to a writer; the
    store's advisory locks are its own, keyed by schema: ``engine.advisory_lock``).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(parsed.database, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_engine(parsed)
    with engine.connect() as pg:
        present = set(
            pg.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
        )
        for table in STORE_TABLES:
            if table in present:
                pg.execute(text(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'))
        try:
            yield
        finally:
            pg.rollback()
    engine.dispose()
