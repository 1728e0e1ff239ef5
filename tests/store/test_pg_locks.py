"""Stores in two schemas of one PostgreSQL database do not wait on each other's locks.

The store's advisory locks (migrations; the SLI cache fill that every save takes) are
keyed by the schema too: with one key alone they were one lock for every schema of the
server, so one store's writes held up another's.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from probes.records import RoundResult, SessionResult
from probes.results import ResultStore
from probes.results.engine import advisory_lock
from probes.results.sli_cache import FILL_LOCK
from tests.support.databases import PG_URL, fresh_pg_schema

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs SLAWATCH_TEST_PG_URL")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TRY = text(f"SELECT pg_try_advisory_xact_lock({FILL_LOCK}, hashtext(current_schema()))")


def a_round() -> RoundResult:
    user = SessionResult("r1", "chat", "ws://a/ws", "eu-1", "u1", "header", T0, outcome="ok")
    return RoundResult("r1", "chat", "ws://a/ws", "eu-1", T0, T0, "passed", sessions=(user,))


def test_a_store_saves_while_another_schemas_store_holds_its_fill_lock() -> None:
    with fresh_pg_schema() as first, fresh_pg_schema() as second:
        holder, same, other = create_engine(first), create_engine(first), create_engine(second)
        try:
            with holder.begin() as held:
                advisory_lock(held, FILL_LOCK)  # as a save or a cache fill of the first store
                with same.begin() as conn:
                    assert conn.execute(TRY).scalar_one() is False  # its own store waits
                with other.begin() as conn:
                    assert conn.execute(TRY).scalar_one() is True  # the other store does not
                with ResultStore.open(second) as store:  # migrations, a save and its refill
                    store.save_round(a_round())
                    assert store.has_round("r1")
        finally:
            for engine in (holder, same, other):
                engine.dispose()
