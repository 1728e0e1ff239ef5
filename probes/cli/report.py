"""``slawatch report``: the flags -> windows, then the report written where asked."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dashboard.report.model import Report, align, build_report
from dashboard.report.render import FORMATS, render, rounds_csv, rounds_csv_path
from probes.cli.common import parse_time, read_store
from probes.config import Settings, parse_duration
from probes.errors import UsageError
from probes.records import Filters


def _duration(text: str, flag: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _not_future(moment: datetime, now: datetime, flag: str) -> None:
    if moment > now:
        raise UsageError(
            f"{flag}: {moment.isoformat()} is in the future (now is {now.isoformat()}); "
            "a report covers only recorded time"
        )


def resolve_windows(
    args: argparse.Namespace, now: datetime
) -> tuple[datetime, datetime, tuple[datetime, datetime] | None]:
    """``--window``/``--since``/``--until`` and the baseline flags -> (since, until, baseline).

    ``--window D`` ends at ``--until`` (default now); ``--baseline-window D`` ends
    where the window starts; ``--baseline-until`` defaults to the window's start.
    """
    if args.window and args.since:
        raise UsageError("give --window or --since, not both")
    if not args.window and not args.since:
        raise UsageError("say which window: --window 7d, or --since TIME [--until TIME]")
    # Reports use whole minutes, rounded down at the end (``align``): without --until
    # the window ends at now, so at 12:00:30 it ends at 12:00:00. A window in the
    # future is refused: it would report "no data" for time not yet recorded.
    until = parse_time(args.until, now, name="until")
    _not_future(until, now, "--until")
    if args.window:
        since = until - _duration(args.window, "--window")
    else:
        since = parse_time(args.since, now, name="since")
        _not_future(since, now, "--since")
    if since >= until:
        raise UsageError(
            f"the window is empty: {since.isoformat()} is not before {until.isoformat()}"
        )
    baseline = None
    if args.baseline_window and args.baseline_since:
        raise UsageError("give --baseline-window or --baseline-since, not both")
    if args.baseline_until and not args.baseline_since:
        raise UsageError("--baseline-until needs --baseline-since")
    if args.baseline_window:
        baseline = (since - _duration(args.baseline_window, "--baseline-window"), since)
    elif args.baseline_since:
        b_since = parse_time(args.baseline_since, now, name="baseline-since")
        b_until = (
            parse_time(args.baseline_until, now, name="baseline-until")
            if (args.baseline_until)
            else since
        )
        if b_since >= b_until:
            raise UsageError(
                f"the baseline window is empty: {b_since.isoformat()} is not before "
                f"{b_until.isoformat()}"
            )
        baseline = (b_since, b_until)
    return since, until, baseline


def _write(report: Report, fmt: str, output: Path | None) -> list[Path]:
    if output is None:
        if fmt == "pdf":
            raise UsageError("--format pdf needs -o FILE (a PDF is not written to a terminal)")
        sys.stdout.write(render(report, fmt).decode("utf-8"))
        sys.stdout.flush()
        if fmt == "csv":
            print(
                "slawatch: the sessions CSV went to stdout; the rounds CSV (and the digest's "
                "second half) is written only with -o FILE",
                file=sys.stderr,
            )
        return []
    output.write_bytes(render(report, fmt))
    if fmt == "csv":
        second = rounds_csv_path(output)
        second.write_bytes(rounds_csv(report))
        return [output, second]
    return [output]


def command(args: argparse.Namespace, settings: Settings) -> int:
    """``slawatch report``: judge the window, write the report; 0 whatever the verdict."""
    if args.format not in FORMATS:
        raise UsageError(f"--format: one of {', '.join(FORMATS)}")
    if args.format == "pdf" and args.output is None:
        raise UsageError("--format pdf needs -o FILE (a PDF is not written to a terminal)")
    now = datetime.now(UTC)
    since, until, baseline = resolve_windows(args, now)
    try:  # whole minutes, as build_report would: a window too short is a usage error
        since, until = align(since, until)
        baseline = None if baseline is None else align(*baseline)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    filters = Filters(target=args.target, probe=args.probe, runner=args.filter_runner)
    with read_store(settings) as store:
        report = build_report(
            store, settings, since=since, until=until, now=now, filters=filters, baseline=baseline
        )
    written = _write(report, args.format, args.output)
    ev = report.main.evidence
    where = ", ".join(str(p) for p in written) or "stdout"
    print(
        f"slawatch report: {report.verdict} ({ev.records} records, digest {ev.digest[:16]}...) "
        f"-> {where}",
        file=sys.stderr,
    )
    return 0
