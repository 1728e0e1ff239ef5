"""What each ``slawatch`` sub-command does, given parsed flags and settings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import re
import signal
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from probes import tables
from probes.cli.common import jwt_secret, open_store, output, parse_time, read_store
from probes.cli.ecosystem import alerting, metrics
from probes.cli.processes import backend_argv, dashboard_argv
from probes.cli.profiles import check_credentials
from probes.config import ProbeSettings, Settings, backend_url, parse_duration
from probes.errors import EXIT_BREACHED, StoreError, StoreUnavailable, TargetUnreachable, UsageError
from probes.export import SESSION_FIELDS, write_csv, write_json
from probes.judging.evaluation import Evaluation, evaluate_window
from probes.passwords import make_password_hash
from probes.profiles.registry import resolve
from probes.records import UNREACHABLE, Filters, RoundResult
from probes.results import ResultStore, preflight, safe_url, spill, spill_path
from probes.scheduling.scheduler import ProbeScheduler, memory_source
from probes.target.round import run_round
from probes.target.tokens import mint_token, static_secret
from probes.target.trace import Trace

# --- up / backend / run / dashboard ------------------------------------------------


def up(args: argparse.Namespace, settings: Settings) -> int:
    from probes.cli.up import follow_backend, run_up

    b, d = settings.backend, settings.dashboard
    backend = replace(b, host=args.backend_host or b.host, port=_port(args.backend_port, b.port))
    board = replace(d, host=args.dashboard_host or d.host, port=_port(args.dashboard_port, d.port))
    settings = replace(settings, backend=backend, dashboard=board)
    settings = follow_backend(settings, backend_url(backend), configured=backend_url(b))
    return asyncio.run(
        run_up(
            settings,
            config=args.config,
            dashboard=not args.no_dashboard,
            metrics_listen=args.metrics_listen,
        )
    )


def _port(given: int | None, configured: int) -> int:
    if given is None:
        return configured
    if not 0 <= given <= 65535:
        raise UsageError(f"port must be from 0 to 65535, got {given}")
    return given


def backend(args: argparse.Namespace, settings: Settings) -> int:
    argv = backend_argv(settings, args)
    os.execv(argv[0], argv)
    return 0  # pragma: no cover - execv does not return


def run(args: argparse.Namespace, settings: Settings) -> int:
    secret = jwt_secret()
    assert secret is not None
    check_credentials(settings)

    async def main() -> None:
        with (
            open_store(settings, verify=True) as store,
            metrics(store, settings, args.metrics_listen, "--metrics-listen"),
        ):
            async with alerting(store, settings) as alerts:
                scheduler = ProbeScheduler(
                    settings, store, secret, runner=settings.runner, ha=args.ha,
                    on_round=alerts.note_round,
                )  # fmt: skip
                scheduler.start()
                print(
                    f"slawatch run: {len(settings.probes)} probe(s), runner {settings.runner!r}"
                    f"{' (ha)' if args.ha else ''}, instance {scheduler.instance}, "
                    f"store {safe_url(settings.store.url)}",
                    file=sys.stderr,
                )
                try:
                    await stopping()
                finally:
                    await scheduler.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


async def stopping() -> None:
    """Until SIGTERM or SIGINT (a service manager's stop, Ctrl-C): either one stops the
    runner as Ctrl-C did, saving what it measured. Handled here whatever the process
    inherited: started in the background by a shell, SIGINT came ignored (Python then
    installs no handler) and the runner could not be stopped with it; SIGTERM ended it at
    once, with its unsaved rounds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard.access import check_bind  # the CLI is the composition root

    host = args.host or settings.dashboard.host
    preflight(settings.store.url, create_folder=False)  # a missing store is shown, not created
    try:
        check_bind(host, settings.dashboard)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    argv = dashboard_argv(settings, args.config, host, args.port or settings.dashboard.port)
    os.execv(argv[0], argv)
    return 0  # pragma: no cover


# --- probe --------------------------------------------------------------------------


def probe_settings(args: argparse.Namespace, settings: Settings) -> ProbeSettings:
    """The configured probe, with the command line's overrides applied."""
    chosen = settings.probes[0]
    if args.probe:
        named = [p for p in settings.probes if p.name == args.probe]
        if not named:
            raise UsageError(f"--probe: no probe named {args.probe!r} in the config")
        chosen = named[0]
    changes: dict[str, object] = {}
    if args.target:
        if not re.match(r"^wss?://[^/]+", args.target):
            raise UsageError(f"--target: must be a ws:// or wss:// URL, got {args.target!r}")
        changes["target"] = args.target
        changes["healthz"] = chosen.healthz if chosen.healthz == "off" else ""
    if args.users is not None:
        if not 1 <= args.users <= 10_000:
            raise UsageError("--users: must be from 1 to 10000")
        changes["users"] = args.users
    if args.auth:
        changes["auth"] = args.auth
    if args.healthz:
        changes["healthz"] = args.healthz
    if args.profile:
        changes["profile"] = resolve(args.profile, settings.profiles, base=Path.cwd())
        changes["profile_ref"] = args.profile
    return replace(chosen, **changes)  # type: ignore[arg-type]


def probe(args: argparse.Namespace, settings: Settings) -> int:
    if args.rounds < 1:
        raise UsageError("--rounds: must be at least 1")
    secret = jwt_secret()
    assert secret is not None
    chosen = probe_settings(args, settings)
    preflight(settings.store.url)  # a bad --db fails now, before anything is measured
    static_secret(chosen.profile)
    progress = sys.stderr if sys.stderr.isatty() and not args.trace else None
    trace = Trace(print) if args.trace else None
    started = datetime.now(UTC)
    rounds = asyncio.run(_probe_rounds(chosen, settings, secret, args.rounds, progress, trace))
    finished = datetime.now(UTC)
    saved: list[RoundResult] = []
    try:
        with open_store(settings) as store:
            for result in rounds:
                store.save_round(result)
                saved.append(result)
            evaluation = _judge(store, settings, started, finished, rounds)
    except StoreError as exc:
        print(tables.rounds_table(rounds, settings.slos))
        stored = {r.run_id for r in saved}
        raise keep_unsaved(settings, exc, [r for r in rounds if r.run_id not in stored]) from None
    if all(r.reason.startswith(UNREACHABLE) for r in rounds):
        count = f"{len(rounds)} round" + ("" if len(rounds) == 1 else "s")
        raise TargetUnreachable(
            f"--target {chosen.target} is unreachable "
            f"({rounds[-1].reason.removeprefix(UNREACHABLE + ': ')}); no objective was judged "
            f"({count} stored as error)"
        )
    print(tables.rounds_table(rounds, settings.slos))
    print()
    print(tables.objectives_table(evaluation))
    print()
    print(f"verdict: {evaluation.verdict} - {evaluation.reason}")
    if args.gate and evaluation.verdict == "FAIL":
        return EXIT_BREACHED
    return 0


def _judge(
    store: ResultStore,
    settings: Settings,
    started: datetime,
    finished: datetime,
    rounds: list[RoundResult],
) -> Evaluation:
    return evaluate_window(
        store,
        settings,
        since=started,
        until=finished + timedelta(seconds=1),
        filters=Filters(run_ids=tuple(r.run_id for r in rounds)),
        expected_rounds=len(rounds),
    )


def keep_unsaved(settings: Settings, error: StoreError, unsaved: list[RoundResult]) -> StoreError:
    """Write the rounds the store did not take to the spill file; the error to show (exit 3)."""
    if not unsaved:
        return error
    path = spill_path(preflight(settings.store.url), settings.store.spill_file)
    try:
        spill.append(path, unsaved)
    except OSError as exc:
        return StoreUnavailable(
            f"{error}\n{len(unsaved)} measured round(s) could not be kept in {path} either "
            f"({exc.strerror}): they are lost"
        )
    return StoreUnavailable(
        f"{error}\n{len(unsaved)} measured round(s) kept in {path}; the next "
        "`slawatch probe`, `run` or `up` on this store imports them"
    )


async def _probe_rounds(
    chosen: ProbeSettings,
    settings: Settings,
    secret: str,
    count: int,
    progress: TextIO | None,
    trace: Trace | None = None,
) -> list[RoundResult]:
    results: list[RoundResult] = []
    for i in range(count):
        if progress:
            print(
                f"\rround {i + 1}/{count}: {chosen.users} users against {chosen.target} ...",
                end="",
                file=progress,
                flush=True,
            )
        result = await run_round(
            chosen,
            run_id=uuid.uuid4().hex,
            runner=settings.runner,
            secret=secret,
            memory=memory_source(chosen),
            now=lambda: datetime.now(UTC),
            trace=trace if i == 0 else None,
        )
        results.append(result)
        if progress:
            failed = len(result.failed_sessions)
            print(
                f"\rround {i + 1}/{count}: {result.status}, {failed} of {len(result.sessions)} "
                f"sessions failed          ",
                file=progress,
                flush=True,
            )
    return results


# --- report / export / token / hash-password --------------------------------------------


def profiles(args: argparse.Namespace, settings: Settings) -> int:
    from probes.cli import profiles as listing

    return listing.command(args, settings)


def report(args: argparse.Namespace, settings: Settings) -> int:
    from probes.cli.report import command  # loads the dashboard's report package

    return command(args, settings)


def export(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    since = parse_time(args.since, now, name="since")
    until = parse_time(args.until, now, name="until")
    filters = Filters(target=args.target, probe=args.probe, runner=args.filter_runner)
    write = write_csv if args.format == "csv" else write_json
    with read_store(settings) as store, output(args.output) as out:
        if args.what == "sessions":
            count = write(store.iter_sessions(since, until, filters), SESSION_FIELDS, out)
        else:
            count = write(store.rounds_between(since, until, filters), tables.ROUND_FIELDS, out)
    noun = args.what if count != 1 else args.what.removesuffix("s")
    print(f"{count} {noun} exported", file=sys.stderr)
    return 0


def token(args: argparse.Namespace, settings: Settings) -> int:
    secret = jwt_secret()
    assert secret is not None
    ttl = parse_duration(args.ttl)
    print(mint_token(secret, args.user, audience=args.audience, ttl_s=ttl, now=time.time()))
    return 0


def hash_password(args: argparse.Namespace, settings: Settings) -> int:
    password = getpass.getpass("dashboard password: ")
    if len(password) < 12:
        raise UsageError("choose a password of at least 12 characters")
    print(f'password_hash = "{make_password_hash(password)}"')
    return 0
