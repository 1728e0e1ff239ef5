"""One probe round: N users at once, a bad-token attempt, a database round trip,
and the target's memory through it all -> a ``RoundResult``.

The round only orchestrates: the sessions are ``session``'s, the bad-token check
``auth_check``'s, the database round trip ``db_check``'s, the sampling ``memory``'s.

Everything a round does is bounded by ``probe.timeout_s``: sessions still
running then end as ``timeout`` records. A target that answers badly gives a
round of failed records; one that no session could reach at all gives an
``error`` round ("target unreachable: ..."), whose checks are no data. Never
an exception.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from time import perf_counter
from typing import cast

from probes.config import ProbeSettings
from probes.profiles.model import Profile
from probes.profiles.registry import DEFAULT_PROFILE, builtin
from probes.records import (
    AuthCheck,
    AuthMode,
    DbTiming,
    MemorySample,
    RoundResult,
    SessionResult,
    round_status,
    unreachable,
)
from probes.round_timing import CLOSE_GRACE_S, MEMORY_RESERVE_S
from probes.target.auth_check import check_bad_token
from probes.target.db_check import check_database
from probes.target.memory import MemorySource, sample_memory
from probes.target.session import SessionSpec, new_nonce, run_session
from probes.target.tokens import bad_token, mint_token, static_secret, wrong_static_secret
from probes.target.trace import Trace

# The sessions wait this long at most for the memory baseline, then start without it
# (the round then has no memory figure): no memory figure is better than no sessions.
BASELINE_WAIT_S = 1.5
GC_GEN0_THRESHOLD = 50_000  # during a round; measured: about a quarter less client CPU


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic GC less often while a round runs, then restore its threshold.

    A round allocates many short-lived containers (frames, futures, decoded
    messages); at CPython's default gen0 threshold (700) a 1000-user round
    set off about 200 young, 20 middle and 2 full collections, the older ones
    rescanning every live connection's objects: 5 to 35 % of the client's CPU
    (docs/benchmarks.md). Only gen0 is raised, so cycles are still collected.
    Concurrent rounds leave it to the first: a round that finds the threshold
    already high does nothing.
    """
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 >= GC_GEN0_THRESHOLD:
        yield
        return
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
    try:
        yield
    finally:
        gc.set_threshold(gen0, gen1, gen2)


def auth_mode_for(auth: str, index: int, profile: Profile | None = None) -> AuthMode:
    """The auth mode of user ``index``: the probe's ``auth`` when set, else the profile's.

    ``both`` (and a profile's list of modes) alternates by user index: with
    agent-chat v1, even users use the header, odd the subprotocol, so a proxy
    that strips headers shows as failures of every other user.
    """
    if auth == "both":
        return "header" if index % 2 == 0 else "subprotocol"
    if auth:
        return cast(AuthMode, auth)
    return (profile or builtin(DEFAULT_PROFILE)).auth.mode_for(index)


def result_store(sessions: Sequence[SessionResult]) -> tuple[DbTiming, ...]:
    """The server's ``db_ms.result_store`` of the first user (by index) whose run reported one.

    Empty when no run got as far as ``agent_completed``: the store write was not
    observed, and a missing observation is not a slow database (the sessions'
    own records already carry that failure).
    """
    for s in sessions:
        if "result_store" in s.db_ms:
            return (DbTiming("result_store", None, s.db_ms["result_store"], ok=True),)
    return ()


def _ordered(timings: Sequence[DbTiming]) -> tuple[DbTiming, ...]:
    order = ("thread_create", "message_batch", "result_store", "data_retrieval")
    return tuple(sorted(timings, key=lambda t: order.index(t.operation)))


async def _start_memory(
    memory: MemorySource | None,
    probe: ProbeSettings,
    stop: asyncio.Event,
    now: Callable[[], datetime],
) -> asyncio.Task[tuple[MemorySample, ...]] | None:
    """Start sampling and return once the baseline is taken (or the sampler ended).

    Never later than ``BASELINE_WAIT_S``: a source that has not answered by then is
    given up for this round (None, no memory figure), and the sessions start.
    """
    if memory is None:
        return None
    started = asyncio.Event()
    sampler = asyncio.create_task(
        sample_memory(memory, probe.memory_interval_s, stop, started=started, now=now)
    )
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait(
        [sampler, waiter], timeout=BASELINE_WAIT_S, return_when=asyncio.FIRST_COMPLETED
    )
    waiter.cancel()
    if not started.is_set() and not sampler.done():
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        return None
    return sampler


async def _finish_memory(
    sampler: asyncio.Task[tuple[MemorySample, ...]] | None, stop: asyncio.Event, deadline: float
) -> tuple[MemorySample, ...]:
    """Take the "after" sample, within what is left of the round (none when it is too late)."""
    if sampler is None:
        return ()
    stop.set()
    try:
        return await asyncio.wait_for(sampler, max(0.0, deadline - perf_counter()))
    except TimeoutError:
        return ()


def _specs(
    probe: ProbeSettings, run_id: str, runner: str, secret: str, issued: float, timeout_s: float
) -> list[SessionSpec]:
    profile = probe.profile
    static = static_secret(profile)

    def token(user_id: str) -> str:
        if static is not None:
            return static
        ttl = probe.token_ttl_s
        return mint_token(secret, user_id, audience=probe.audience, ttl_s=ttl, now=issued)

    users = [f"{probe.user_prefix}-{i}" for i in range(probe.users)]
    canary = profile.isolation.canary
    return [
        SessionSpec(
            run_id=run_id,
            probe=probe.name,
            target=probe.target,
            runner=runner,
            user_id=user_id,
            token=token(user_id),
            auth_mode=auth_mode_for(probe.auth, i, profile),
            message=probe.message,
            expected_events=probe.expected_events,
            timeout_s=timeout_s,
            profile=profile,
            nonce=new_nonce() if canary else "",
        )
        for i, user_id in enumerate(users)
    ]


async def _auth_check(probe: ProbeSettings, issued: float, timeout_s: float) -> AuthCheck | None:
    if not probe.bad_token_check:
        return None
    profile = probe.profile
    user_id = f"{probe.user_prefix}-0"
    if static_secret(profile) is not None:
        token = wrong_static_secret()
    else:
        token = bad_token(user_id, now=issued)
    mode = auth_mode_for(probe.auth, 0, profile)
    if mode == "none":
        return None  # nothing to present, so nothing to refuse
    return await check_bad_token(probe.target, token, mode, timeout_s, profile, user_id)


async def _db_check(
    probe: ProbeSettings, secret: str, issued: float, timeout_s: float
) -> tuple[DbTiming, ...]:
    if not has_db_check(probe):
        return ()
    user_id = f"{probe.user_prefix}-db"
    ttl = probe.token_ttl_s
    token = mint_token(secret, user_id, audience=probe.audience, ttl_s=ttl, now=issued)
    return await check_database(probe.target, token, auth_mode_for(probe.auth, 0), timeout_s)


def has_db_check(probe: ProbeSettings) -> bool:
    """The database round trip exists only for agent-chat v1 (its requests are PROTOCOL.md's)."""
    return probe.db_check and probe.profile.name == DEFAULT_PROFILE


async def run_round(
    probe: ProbeSettings,
    *,
    run_id: str,
    runner: str,
    secret: str,
    memory: MemorySource | None,
    now: Callable[[], datetime],
    trace: Trace | None = None,
) -> RoundResult:
    """Run one round of ``probe`` against its target; never raises for a target problem.

    The sessions, the bad-token attempt and the database round trip run at
    once; memory is sampled from before they start until they have ended.
    """
    started_at = now()
    deadline = perf_counter() + probe.timeout_s
    stop = asyncio.Event()
    sampler = await _start_memory(memory, probe, stop, now)
    reserve = CLOSE_GRACE_S + (MEMORY_RESERVE_S if sampler else 0.0)
    timeout_s = max(0.0, min(probe.session_timeout_s, deadline - perf_counter() - reserve))
    issued = now().timestamp()
    specs = _specs(probe, run_id, runner, secret, issued, timeout_s)
    if trace is not None and specs:
        specs[0] = replace(specs[0], trace=trace)
    with fewer_collections():
        results, auth_check, db = await asyncio.gather(
            asyncio.gather(*(run_session(spec) for spec in specs)),
            _auth_check(probe, issued, timeout_s),
            _db_check(probe, secret, issued, timeout_s),
        )
    samples = await _finish_memory(sampler, stop, deadline)
    sessions = tuple(results)
    db_timings = _ordered((*db, *result_store(sessions))) if has_db_check(probe) else ()
    why = unreachable(sessions)
    if why:  # nothing reached the target: the auth and DB checks could not run either
        auth_check, db_timings = None, ()
    return RoundResult(
        run_id=run_id,
        probe=probe.name,
        target=probe.target,
        runner=runner,
        started_at=started_at,
        finished_at=now(),
        status="error" if why else round_status(sessions, auth_check, db_timings),
        reason=why,
        sessions=sessions,
        auth_check=auth_check,
        db_timings=db_timings,
        memory_samples=samples,
        memory_source=memory.kind if memory and samples else "",
        profile=probe.profile.name,
    )
