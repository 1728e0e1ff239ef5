"""Fresh databases for tests: an empty PostgreSQL schema on the machine's server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text

PG_URL = os.environ.get("SLAWATCH_TEST_PG_URL", "")


@contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A URL whose connections use a new, empty schema (dropped afterwards)."""
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
