"""A fresh PostgreSQL schema for one test: the URL that points into it, dropped after."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, make_url, text


@contextlib.contextmanager
def fresh_schema(pg_url: str, prefix: str = "slawatch_test") -> Iterator[str]:
    """``pg_url`` with ``search_path`` set to a new, empty schema (dropped at the end)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
