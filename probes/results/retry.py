"""Waiting for a locked or briefly unreachable store: bounded, logged, exponential backoff.

A writer that finds the store locked (SQLite's write lock held past the busy
timeout, a PostgreSQL lock wait past ``lock_timeout``) or the server gone for a
moment tries again, waiting 0.1 s, 0.2 s, 0.4 s ... at most ``MAX_PAUSE_S`` between
tries, until ``wait_s`` has passed; each retry is logged with what failed and how
long it has waited. After that the store is ``StoreUnavailable`` (exit 3), and
what the writer held is kept (``probes.results.spill``), never dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from probes.errors import RoundNotSaved, StoreUnavailable
from probes.results import opening

T = TypeVar("T")
log = logging.getLogger("slawatch.store")
FIRST_PAUSE_S = 0.1
MAX_PAUSE_S = 5.0


def retryable(exc: BaseException) -> bool:
    """A lock or a lost connection: the same statement may well succeed a moment later."""
    return opening.is_locked(exc) or opening.is_lost_connection(exc)


def with_retry(
    action: Callable[[], T],
    *,
    what: str,
    url: URL,
    wait_s: float,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """``action()``, retried while it fails with a lock or a lost connection.

    Raises ``StoreUnavailable`` naming ``what`` and the URL once ``wait_s`` has
    passed; any other error is raised at once.
    """
    start = clock()
    delay = FIRST_PAUSE_S
    attempt = 1
    while True:
        try:
            return action()
        except (SQLAlchemyError, RoundNotSaved) as exc:
            cause = _underlying(exc)
            if cause is None:
                raise
            waited = clock() - start
            why = opening.reason(cause, url)
            if waited + delay > wait_s:
                raise StoreUnavailable(
                    f"results store {opening.shown(url)}: {what} failed for {waited:.1f} s "
                    f"({attempt} tries, [store] lock_wait = {wait_s:g}s): {why}"
                ) from None
            log.warning(
                "results store %s: %s: %s; try %d again in %.1f s (%.1f s of %g s waited)",
                opening.shown(url),
                what,
                why,
                attempt + 1,
                delay,
                waited,
                wait_s,
            )
            pause(delay)
            delay = min(MAX_PAUSE_S, delay * 2)
            attempt += 1


def _underlying(exc: BaseException) -> BaseException | None:
    """The retryable database error in ``exc`` or its causes, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        if retryable(seen):
            return seen
        seen = seen.__cause__
    return None
