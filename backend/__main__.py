"""Composition root: `python -m backend [flags]` -> a serving backend until SIGTERM/SIGINT.

Secrets come from the environment only (`SLAWATCH_JWT_SECRET`,
`SLAWATCH_ADMIN_TOKEN`); without a JWT secret a random one is generated and
stderr says how to mint tokens for it. When listening, exactly one line goes
to stdout: `slawatch-backend listening on ws://HOST:PORT/ws pid=PID`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from backend.auth import (
    ALGORITHMS,
    MAX_LEEWAY_S,
    ConfigError,
    generate_secret,
    load_public_key,
    secret_from_env,
    token_hint,
)
from backend.config import (
    DEFAULT_DB,
    DEFAULT_HOST,
    DEFAULT_PORT,
    GOING_AWAY,
    SERVICE_RESTART,
    BackendConfig,
    SettingError,
)
from backend.faults import FaultError, parse_assignments
from backend.parent_watch import watch_parent
from backend.redaction import install_redaction
from backend.server import running

ADMIN_TOKEN_ENV = "SLAWATCH_ADMIN_TOKEN"
READY_LINE = "slawatch-backend listening on ws://{host}:{port}/ws pid={pid}"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m backend", description=__doc__.split("\n")[0])
    p.add_argument("--host", default=DEFAULT_HOST, help="interface to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file (default: %(default)s)")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="switch a fault on at start (repeatable)",
    )
    p.add_argument("--fault-seed", type=int, default=None, help="seed of the fault RNG")
    p.add_argument(
        "--max-connections", type=int, default=1000, help="open sockets at most (default: 1000)"
    )
    p.add_argument(
        "--max-message-bytes", type=int, default=65536, help="largest client frame (default: 65536)"
    )
    p.add_argument(
        "--step-delay-ms", type=float, default=20.0, help="pause between agent events (default: 20)"
    )
    p.add_argument(
        "--bad-request-limit",
        type=int,
        default=10,
        help="bad client messages before the socket is closed (default: 10)",
    )
    p.add_argument("--max-inflight", type=int, default=8, help="requests in flight per connection")
    p.add_argument(
        "--request-rate",
        type=float,
        default=20.0,
        metavar="N",
        help="requests per second per user; bursts of twice that (default 20)",
    )
    p.add_argument(
        "--reply-rate-kib",
        type=float,
        default=256.0,
        metavar="KIB",
        help="reply KiB per second per user; bursts of four times that (default 256)",
    )
    p.add_argument(
        "--handshake-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="a connection must finish its opening handshake within this (default 5)",
    )
    p.add_argument(
        "--restart-code",
        action="store_true",
        help="close sessions with 1012 (restart) instead of 1001 on shutdown",
    )
    p.add_argument(
        "--jwt-alg", choices=ALGORITHMS, default="HS256", help="token algorithm (default: HS256)"
    )
    p.add_argument(
        "--jwt-public-key",
        type=Path,
        default=None,
        metavar="FILE",
        help="PEM public key (required for RS256/ES256)",
    )
    p.add_argument(
        "--jwt-leeway",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help=f"clock skew allowed on exp/iat, at most {MAX_LEEWAY_S:g}",
    )
    p.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        metavar="PID",
        help="stop (as on SIGTERM) when this process, our parent, is gone",
    )
    p.add_argument(
        "--log-level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level on stderr (default: WARNING)",
    )
    return p


def jwt_key(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """The verification key: a PEM public key, the env secret, or a fresh secret."""
    if args.jwt_alg != "HS256":
        if args.jwt_public_key is None:
            raise ConfigError(f"--jwt-alg {args.jwt_alg} needs --jwt-public-key FILE")
        return load_public_key(args.jwt_public_key, args.jwt_alg)
    if args.jwt_public_key is not None:
        raise ConfigError("--jwt-public-key needs --jwt-alg RS256 or ES256")
    secret = secret_from_env(environ)
    if secret is None:
        secret = generate_secret()
        print(token_hint(secret), file=sys.stderr, flush=True)
    return secret


def build_config(args: argparse.Namespace, environ: Mapping[str, str]) -> BackendConfig:
    """Turn parsed flags and the environment into a validated `BackendConfig`."""
    return BackendConfig(
        jwt_key=jwt_key(args, environ),
        jwt_alg=args.jwt_alg,
        jwt_leeway_s=args.jwt_leeway,
        host=args.host,
        port=args.port,
        db_path=args.db,
        admin_token=environ.get(ADMIN_TOKEN_ENV) or None,
        faults=parse_assignments(args.fault),
        fault_seed=args.fault_seed,
        max_connections=args.max_connections,
        max_message_bytes=args.max_message_bytes,
        step_delay_ms=args.step_delay_ms,
        stop_close_code=SERVICE_RESTART if args.restart_code else GOING_AWAY,
        bad_request_limit=args.bad_request_limit,
        handshake_timeout_s=args.handshake_timeout,
        max_inflight=args.max_inflight,
        request_rate=args.request_rate,
        request_burst=2 * args.request_rate,
        reply_kib_rate=args.reply_rate_kib,
        reply_kib_burst=4 * args.reply_rate_kib,
    )


async def serve_until_signalled(config: BackendConfig, parent_pid: int | None = None) -> None:
    """Serve, print the ready line, and stop cleanly on SIGTERM, SIGINT or the parent's death."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = None if parent_pid is None else loop.create_task(watch_parent(parent_pid, stop.set))
    try:
        async with running(config) as backend:
            ready = READY_LINE.format(host=backend.host, port=backend.port, pid=os.getpid())
            print(ready, flush=True)
            await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the backend; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        config = build_config(args, os.environ if environ is None else environ)
    except (ConfigError, SettingError, FaultError) as exc:
        print(f"slawatch-backend: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    install_redaction()
    try:
        asyncio.run(serve_until_signalled(config, args.parent_pid))
    except OSError as exc:
        print(
            f"slawatch-backend: cannot listen on {config.host}:{config.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
