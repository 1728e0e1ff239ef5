"""The ``slawatch`` command: the composition root of the monitor.

Each sub-command builds the parts it needs from the settings and passes them
in; nothing here keeps state between commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from probes.cli import commands, ecosystem
from probes.config import Settings, load_settings
from probes.errors import EXIT_INTERRUPTED, ConfigError, SlawatchError, exit_code
from probes.redaction import install_redaction
from probes.version import slawatch_version


class _BackendHelp(argparse.Action):
    """``slawatch backend --help``: this command's flags, then the backend's own."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the flags and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        parser.print_help()
        print("\nEvery flag of the built-in backend (python -m backend), passed on as given:\n")
        sys.stdout.flush()
        subprocess.run([sys.executable, "-m", "backend", "--help"], check=False)
        parser.exit()


def _config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="settings file (default ./slawatch.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (debug level)")


def _store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="results store SQLAlchemy URL (overrides [store] url)")


def _runner_label(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runner", help="runner label stored on every record (overrides runner)")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", help="only records of this target URL")
    parser.add_argument("--probe", help="only records of this probe name")
    parser.add_argument(
        "--runner", dest="filter_runner", metavar="LABEL", help="only records of this runner label"
    )


def _up(sub: Any) -> None:
    p = sub.add_parser("up", help="built-in backend + scheduler + dashboard")
    _config(p)
    _store(p)
    _runner_label(p)
    p.add_argument("--backend-host", help="backend interface (overrides [backend] host)")
    p.add_argument("--backend-port", type=int, help="backend port (overrides [backend] port)")
    p.add_argument("--dashboard-host", help="dashboard interface (overrides [dashboard] host)")
    p.add_argument("--dashboard-port", type=int, help="dashboard port (overrides [dashboard] port)")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    _metrics_listen(p)
    p.set_defaults(func=commands.up)


def _backend(sub: Any) -> None:
    p = sub.add_parser("backend", help="the built-in backend alone", add_help=False)
    p.add_argument("-h", "--help", action=_BackendHelp)
    _config(p)
    p.add_argument("--host", help="interface to bind (overrides [backend] host)")
    p.add_argument("--port", type=int, help="port to bind, 0 for any (overrides [backend] port)")
    p.add_argument(
        "--db",
        dest="backend_db",
        metavar="FILE",
        help="the backend's own SQLite file (overrides [backend] db; not the results store)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="switch a fault on, e.g. close_1011=0.2 (repeatable; adds to [backend] faults)",
    )
    p.add_argument(
        "backend_args", nargs=argparse.REMAINDER, help="any other backend flag (listed below)"
    )
    p.set_defaults(func=commands.backend)


def _probe(sub: Any) -> None:
    p = sub.add_parser("probe", help="run probe rounds now and print the results")
    _config(p)
    _store(p)
    _runner_label(p)
    p.add_argument("--target", help="ws:// URL (default: the first configured probe's)")
    p.add_argument("--probe", help="name of the configured probe to run (default: the first)")
    p.add_argument("--users", type=int, help="users at once in each round")
    p.add_argument("--rounds", type=int, default=1, help="rounds to run, one after another")
    p.add_argument(
        "--auth",
        choices=("header", "subprotocol", "query", "message", "none", "both"),
        help="how sessions send their token, for every user (default: the profile's "
        "auth.mode; both: header and subprotocol by turns)",
    )
    p.add_argument("--healthz", help='target /healthz URL for memory, or "off"')
    p.add_argument(
        "--gate",
        action="store_true",
        help="exit 1 if an objective is breached (no data is not a breach)",
    )
    p.add_argument("--profile", help="protocol profile: a built-in or config name, or a file")
    p.add_argument(
        "--trace",
        action="store_true",
        help="print every frame of the first user's session, how the profile read it, the record",
    )
    p.set_defaults(func=commands.probe)


def _report(sub: Any) -> None:
    p = sub.add_parser("report", help="a compliance report for a window")
    _config(p)
    _store(p)
    p.add_argument("--window", help="e.g. 24h, 7d, ending at --until (default now)")
    p.add_argument("--since", help="ISO 8601 time or a duration ago, e.g. 7d")
    p.add_argument("--until", help="ISO 8601 time (default now; rounded down to the minute)")
    p.add_argument(
        "--baseline-window", help="duration of the baseline ending where the window starts"
    )
    p.add_argument("--baseline-since", help="baseline start (ISO 8601)")
    p.add_argument("--baseline-until", help="baseline end (ISO 8601; default the window's start)")
    _filters(p)
    p.add_argument(
        "--format",
        choices=("pdf", "html", "md", "json", "csv"),
        default="md",
        help="output format (default md)",
    )
    p.add_argument("-o", "--output", type=Path, help="file to write (default stdout for text)")
    p.set_defaults(func=commands.report)


def _export(sub: Any) -> None:
    p = sub.add_parser("export", help="raw sessions or rounds as CSV or JSON")
    _config(p)
    _store(p)
    p.add_argument("what", choices=("sessions", "rounds"), help="which records")
    p.add_argument("--since", default="1h", help="ISO 8601 time or a duration ago (default 1h)")
    p.add_argument("--until", help="ISO 8601 time (default now)")
    p.add_argument(
        "--format", choices=("csv", "json"), default="json", help="output format (default json)"
    )
    _filters(p)
    p.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    p.set_defaults(func=commands.export)


def _metrics_listen(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-listen", metavar="HOST:PORT", help="also serve Prometheus /metrics there"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slawatch",
        description="Synthetic monitor and SLA dashboard for WebSocket agent backends.",
    )
    parser.add_argument("--version", action="version", version=f"slawatch {slawatch_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _up(sub)
    _backend(sub)

    p = sub.add_parser("run", help="the scheduler and probes alone (headless runner)")
    _config(p)
    _store(p)
    _runner_label(p)
    p.add_argument(
        "--ha",
        action="store_true",
        help="share this runner label's schedule with another --ha runner (one store)",
    )
    _metrics_listen(p)
    p.set_defaults(func=commands.run)

    _probe(sub)

    p = sub.add_parser("profiles", help="the protocol profiles in force; `show NAME` prints one")
    _config(p)
    p.add_argument("action", nargs="?", choices=("show",), help="show: print one as TOML")
    p.add_argument("name", nargs="?", help="a profile name or a profile file")
    p.set_defaults(func=commands.profiles)

    p = sub.add_parser("dashboard", help="the Streamlit dashboard alone")
    _config(p)
    _store(p)
    p.add_argument("--host", help="interface to serve on (overrides [dashboard] host)")
    p.add_argument("--port", type=int, help="port to serve on (overrides [dashboard] port)")
    p.set_defaults(func=commands.dashboard)

    _report(sub)
    _export(sub)

    p = sub.add_parser("token", help="mint a token for manual testing")
    _config(p)
    p.add_argument("--user", required=True, help="the user id the token is for")
    p.add_argument("--ttl", default="1h", help="lifetime, e.g. 15m, 1h (default 1h)")
    p.add_argument("--audience", default="agent-chat", help="aud claim (default agent-chat)")
    p.set_defaults(func=commands.token)

    p = ecosystem.add_exporter_parser(sub)
    _config(p)
    _store(p)
    ecosystem.add_slo_parser(sub, _config)

    p = sub.add_parser("hash-password", help="hash a dashboard password for the config")
    _config(p)
    p.set_defaults(func=commands.hash_password)
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    """Load the settings file and apply the flags every command shares."""
    settings = load_settings(args.config)
    if getattr(args, "db", None):
        settings = replace(settings, store=replace(settings.store, url=args.db))
    if getattr(args, "runner", None):
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
