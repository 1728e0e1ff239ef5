"""The command lines of the processes ``slawatch`` starts: the backend and the dashboard."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from probes.config import Settings
from probes.errors import UsageError


def backend_argv(settings: Settings, args: argparse.Namespace | None = None) -> list[str]:
    """The command line that starts the built-in backend with these settings."""
    b = settings.backend
    argv = [sys.executable, "-m", "backend", "--host", b.host, "--port", str(b.port), "--db", b.db]
    argv += ["--step-delay-ms", f"{b.step_delay_ms:g}", "--max-connections", str(b.max_connections)]
    faults = list(b.faults)
    if args is not None:
        if args.host:
            argv[argv.index("--host") + 1] = args.host
        if args.port is not None:
            argv[argv.index("--port") + 1] = str(args.port)
        if args.backend_db:
            argv[argv.index("--db") + 1] = args.backend_db
        faults += args.fault
        argv += [a for a in args.backend_args if a != "--"]
    for fault in faults:
        argv += ["--fault", fault]
    return argv


def dashboard_argv(settings: Settings, config: Path | None, host: str, port: int) -> list[str]:
    """The command line that serves the Streamlit dashboard."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or spec.origin is None:
        raise UsageError("the dashboard package is not installed")
    app = Path(spec.origin).parent / "app.py"
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # Also in dashboard/.streamlit/config.toml; given here so they hold whatever
        # the working directory: a viewer's toolbar, no reloading on file changes.
        "--client.toolbarMode",
        "viewer",
        "--server.fileWatcherType",
        "none",
        "--",
        "--db",
        settings.store.url,
    ]
    if config is not None:
        argv += ["--config", str(config)]
    return argv
