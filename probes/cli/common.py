"""Helpers every ``slawatch`` sub-command shares: secrets, times, the store, output."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from probes.config import Settings, parse_duration
from probes.errors import UsageError
from probes.results import DATABASE_FAILURES, ResultStore, unavailable

SECRET_ENV = "SLAWATCH_JWT_SECRET"
SECRET_FILE_ENV = "SLAWATCH_JWT_SECRET_FILE"


def jwt_secret(required: bool = True) -> str | None:
    """The token secret from ``SLAWATCH_JWT_SECRET`` or the file ``SLAWATCH_JWT_SECRET_FILE``."""
    secret = os.environ.get(SECRET_ENV)
    path = os.environ.get(SECRET_FILE_ENV)
    if not secret and path:
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"{SECRET_FILE_ENV}: cannot read {path}: {exc.strerror}") from None
    if not secret and required:
        raise UsageError(
            f"{SECRET_ENV} is not set: probes mint tokens that the target verifies with it "
            f"(or put it in a file named by {SECRET_FILE_ENV})"
        )
    if secret and len(secret.encode()) < 32:
        raise UsageError(f"{SECRET_ENV} must be at least 32 bytes")
    return secret


def parse_time(text: str | None, now: datetime, *, name: str) -> datetime:
    """An ISO 8601 time (naive = UTC) or a duration ago such as ``7d``."""
    if text is None:
        return now
    with contextlib.suppress(ValueError):
        return now - timedelta(seconds=parse_duration(text))
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--{name}: expected an ISO 8601 time or a duration such as 7d, got {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def store_options(settings: Settings) -> dict[str, Any]:
    """The ``ResultStore`` options the ``[store]`` settings give."""
    return {
        "busy_timeout_ms": int(settings.store.busy_timeout_s * 1000),
        "lock_wait_s": settings.store.lock_wait_s,
        "spill_file": settings.store.spill_file,
    }


@contextlib.contextmanager
def open_store(settings: Settings, *, verify: bool = False) -> Iterator[ResultStore]:
    """The store for a writer: created or migrated as needed, spilled rounds imported.

    ``verify`` runs SQLite's ``quick_check`` first (the long-running writers).
    """
    with _using(
        ResultStore.open(settings.store.url, verify=verify, **store_options(settings))
    ) as store:
        yield store


@contextlib.contextmanager
def read_store(settings: Settings) -> Iterator[ResultStore]:
    """The store for a read-only command: it must exist; nothing is created or written."""
    opened = ResultStore.open_read_only(settings.store.url, **store_options(settings))
    with _using(opened) as store:
        yield store


@contextlib.contextmanager
def _using(store: ResultStore) -> Iterator[ResultStore]:
    """``store`` until the block ends (then closed), its database errors as exit 3."""
    try:
        with store_errors(store):
            yield store
    finally:
        store.close()


@contextlib.contextmanager
def store_errors(store: ResultStore) -> Iterator[None]:
    """A database error while a command works becomes ``StoreUnavailable`` (exit 3)."""
    try:
        yield
    except DATABASE_FAILURES as exc:
        raise unavailable(exc, store.url) from None


@contextlib.contextmanager
def output(path: Path | None) -> Iterator[TextIO]:
    """The file at ``path`` (UTF-8 text), or standard output without one."""
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle
