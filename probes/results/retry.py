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
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_before_delay,
    wait_exponential,
)

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
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """``action()``, retried while it fails with a lock or a lost connection.

    Raises ``StoreUnavailable`` naming ``what`` and the URL once ``wait_s`` has
    passed (no try is started that the next pause would take past it); any other
    error is raised at once. The backoff is tenacity's.
    """

    def why(state: RetryCallState) -> str:
        exc = state.outcome.exception() if state.outcome else None
        cause = _underlying(exc) if exc is not None else None
        return opening.reason(cause, url) if cause is not None else str(exc)

    def before_sleep(state: RetryCallState) -> None:
        log.warning(
            "results store %s: %s: %s; try %d again in %.1f s (%.1f s of %g s waited)",
            opening.shown(url), what, why(state), state.attempt_number + 1,
            state.upcoming_sleep, state.seconds_since_start or 0.0, wait_s,
        )  # fmt: skip

    def give_up(state: RetryCallState) -> T:
        raise StoreUnavailable(
            f"results store {opening.shown(url)}: {what} failed for "
            f"{state.seconds_since_start or 0.0:.1f} s ({state.attempt_number} tries, "
            f"[store] lock_wait = {wait_s:g}s): {why(state)}"
        ) from None

    retrying = Retrying(
        retry=retry_if_exception(
            lambda e: isinstance(e, SQLAlchemyError | RoundNotSaved) and _underlying(e) is not None
        ),
        wait=wait_exponential(multiplier=FIRST_PAUSE_S, min=FIRST_PAUSE_S, max=MAX_PAUSE_S),
        stop=stop_before_delay(wait_s),
        before_sleep=before_sleep,
        retry_error_callback=give_up,
        sleep=pause,
    )
    return retrying(action)


def _underlying(exc: BaseException) -> BaseException | None:
    """The retryable database error in ``exc`` or its causes, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        if retryable(seen):
            return seen
        seen = seen.__cause__
    return None
