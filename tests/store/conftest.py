"""One store test suite, run against every store: a real SQLite file and,
when ``SLAWATCH_TEST_PG_URL`` is set, PostgreSQL (one fresh schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text

from probes.results import ResultStore

PG_URL = os.environ.get("SLAWATCH_TEST_PG_URL", "")
STORES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(params=STORES)
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A URL to an empty database; the SQLite file's folder does not exist yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'data' / 'slawatch.db'}"
        return
    schema = f"slawatch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[ResultStore]:
    with ResultStore.open(store_url) as opened:
        yield opened
