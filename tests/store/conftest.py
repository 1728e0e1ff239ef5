"""One store test suite, run against every store: a real SQLite file and,
when ``SLAWATCH_TEST_PG_URL`` is set, PostgreSQL (one fresh schema per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from probes.results import ResultStore
from tests.support.databases import PG_URL, fresh_pg_schema

STORES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(params=STORES)
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A URL to an empty database; the SQLite file's folder does not exist yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'data' / 'slawatch.db'}"
        return
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[ResultStore]:
    with ResultStore.open(store_url) as opened:
        yield opened
