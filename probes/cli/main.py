"""The ``slawatch`` command: the composition root of the monitor.

Each sub-command builds the parts it needs from the settings and passes them
in; nothing here keeps state between commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from probes.cli import commands, ecosystem
from probes.config import Settings, load_settings
from probes.errors import EXIT_INTERRUPTED, ConfigError, SlawatchError, exit_code
from probes.redaction import install_redaction


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="settings file (default ./slawatch.toml)")
    parser.add_argument("--db", help="results store SQLAlchemy URL (overrides [store] url)")
    parser.add_argument("--runner", help="runner label stored on every record")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")


def _metrics_listen(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-listen", metavar="HOST:PORT", help="also serve Prometheus /metrics there"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slawatch",
        description="Synthetic monitor and SLA dashboard for WebSocket agent backends.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="built-in backend + scheduler + dashboard")
    _common(p)
    p.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    _metrics_listen(p)
    p.set_defaults(func=commands.up)

    p = sub.add_parser("backend", help="the built-in backend alone")
    _common(p)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("backend_args", nargs=argparse.REMAINDER, help="passed on to the backend")
    p.set_defaults(func=commands.backend)

    p = sub.add_parser("run", help="the scheduler and probes alone (headless runner)")
    _common(p)
    p.add_argument(
        "--ha",
        action="store_true",
        help="share this runner label's schedule with another --ha runner (one store)",
    )
    _metrics_listen(p)
    p.set_defaults(func=commands.run)

    p = sub.add_parser("probe", help="run probe rounds now and print the results")
    _common(p)
    p.add_argument("--target", help="ws:// URL (default: the first configured probe's)")
    p.add_argument("--probe", help="name of the configured probe to run (default: the first)")
    p.add_argument("--users", type=int, help="users at once in each round")
    p.add_argument("--rounds", type=int, default=1, help="rounds to run, one after another")
    p.add_argument("--auth", choices=("header", "subprotocol", "both"))
    p.add_argument("--healthz", help='target /healthz URL, or "off"')
    p.add_argument("--gate", action="store_true", help="exit 1 if any objective is broken")
    p.set_defaults(func=commands.probe)

    p = sub.add_parser("dashboard", help="the Streamlit dashboard alone")
    _common(p)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=commands.dashboard)

    p = sub.add_parser("report", help="a compliance report for a window")
    _common(p)
    p.add_argument("--window", help="e.g. 24h, 7d (ending now)")
    p.add_argument("--since", help="ISO 8601 time or a duration ago, e.g. 7d")
    p.add_argument("--until", help="ISO 8601 time (default now)")
    p.add_argument(
        "--baseline-window", help="duration of the baseline ending where the window starts"
    )
    p.add_argument("--baseline-since", help="baseline start (ISO 8601)")
    p.add_argument("--baseline-until", help="baseline end (ISO 8601)")
    p.add_argument("--target")
    p.add_argument("--probe")
    p.add_argument("--filter-runner", dest="filter_runner")
    p.add_argument("--format", choices=("pdf", "html", "md", "json", "csv"), default="md")
    p.add_argument("-o", "--output", type=Path, help="file to write (default stdout for text)")
    p.set_defaults(func=commands.report)

    p = sub.add_parser("export", help="raw sessions or rounds as CSV or JSON")
    _common(p)
    p.add_argument("what", choices=("sessions", "rounds"))
    p.add_argument("--since", default="1h", help="ISO 8601 time or a duration ago (default 1h)")
    p.add_argument("--until", help="ISO 8601 time (default now)")
    p.add_argument("--format", choices=("csv", "json"), default="json")
    p.add_argument("--target")
    p.add_argument("--probe")
    p.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    p.set_defaults(func=commands.export)

    p = sub.add_parser("token", help="mint a token for manual testing")
    _common(p)
    p.add_argument("--user", required=True)
    p.add_argument("--ttl", default="1h", help="lifetime, e.g. 15m, 1h (default 1h)")
    p.add_argument("--audience", default="agent-chat")
    p.set_defaults(func=commands.token)

    _common(ecosystem.add_exporter_parser(sub))

    p = sub.add_parser("hash-password", help="hash a dashboard password for the config")
    _common(p)
    p.set_defaults(func=commands.hash_password)
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    """Load the settings file and apply the flags every command shares."""
    settings = load_settings(args.config)
    if args.db:
        settings = replace(settings, store=replace(settings.store, url=args.db))
    if args.runner:
        settings = replace(settings, runner=args.runner)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_redaction()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    try:
        settings = settings_for(args)
        return int(args.func(args, settings) or 0)
    except ConfigError as exc:
        print(f"slawatch: config error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except SlawatchError as exc:
        print(f"slawatch: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
