"""``slawatch up``: the built-in backend (a child process), the scheduler and the dashboard.

The token secret and admin token come from the environment or are made fresh
and kept in files only this user can read (``probes.cli.secrets``); the backend
gets them through its environment. Probes whose target is the default one are
pointed at the backend this command started, wherever it listens. A backend that dies is
restarted, and its death is stored as an ``incident`` annotation so that the
gap in the charts has its explanation. Ctrl-C (or SIGTERM) stops all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from probes.alerting.service import Alerting
from probes.cli.common import open_store
from probes.cli.ecosystem import metrics
from probes.cli.processes import backend_argv, dashboard_argv
from probes.cli.secrets import UpSecrets, up_secrets
from probes.config import DEFAULT_TARGET, Settings
from probes.errors import StartError
from probes.records import Annotation
from probes.results import ResultStore, safe_url
from probes.scheduling.scheduler import ProbeScheduler

log = logging.getLogger("slawatch.up")
READY = re.compile(rb"listening on (ws://\S+)")
START_TIMEOUT_S = 30.0
RESTART_PAUSE_S = 1.0


async def start_backend(
    argv: list[str], env: dict[str, str]
) -> tuple[asyncio.subprocess.Process, str]:
    """Start the backend and wait for its ready line; returns the process and its URL."""
    # Its own session and process group: a terminal's Ctrl-C reaches `up`, which stops it.
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while line := await proc.stdout.readline():
                if match := READY.search(line):
                    asyncio.get_running_loop().create_task(_drain(proc.stdout))
                    return proc, match.group(1).decode()
    except TimeoutError:
        proc.kill()
        raise StartError(f"backend did not report listening within {START_TIMEOUT_S:g}s") from None
    code = await proc.wait()
    raise StartError(
        f"backend exited with code {code} before listening (port in use? choose another "
        "with --backend-port or [backend] port)"
    )


def check_port_free(host: str, port: int, flag: str, key: str) -> None:
    """Refuse a port another process listens on, naming the flag and the config key."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # as the servers do: a port whose old connections linger in TIME_WAIT is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StartError(
                f"{host}:{port} is in use ({exc.strerror}): choose another port with "
                f"{flag} or {key}"
            ) from None


def follow_backend(settings: Settings, url: str, configured: str = DEFAULT_TARGET) -> Settings:
    """Point every probe at the default or the configured backend's URL (``configured``)
    to the backend ``up`` started (``url``): flags and port 0 move it."""
    follows = {DEFAULT_TARGET, configured}
    probes = tuple(replace(p, target=url) if p.target in follows else p for p in settings.probes)
    return replace(settings, probes=probes)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def start_dashboard(argv: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start the dashboard so that it stops by itself if this process dies without stopping
    it (SIGKILL): ``probes.cli.guard`` gives it the parent-death watch the backend has."""
    assert argv[1] == "-m", argv  # python -m streamlit ...: the guard runs that module
    guarded = [argv[0], "-m", "probes.cli.guard", str(os.getpid()), *argv[2:]]
    # Its own session and process group, as the backend: `up` stops it, in order.
    return await asyncio.create_subprocess_exec(
        *guarded, env=env, stdout=asyncio.subprocess.DEVNULL, start_new_session=True
    )


async def stop_process(proc: asyncio.subprocess.Process | None, name: str) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc is None or proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        log.warning("%s did not stop on SIGTERM; killing it", name)
        proc.kill()
        await proc.wait()


class Supervisor:
    """Keeps the backend alive and records every unexpected exit."""

    def __init__(self, settings: Settings, store: ResultStore, env: dict[str, str]) -> None:
        # The backend stops by itself if this process dies without stopping it (SIGKILL).
        self._argv = [*backend_argv(settings), "--parent-pid", str(os.getpid())]
        self._env = env
        self._store = store
        self.proc: asyncio.subprocess.Process | None = None
        self.stopping = False

    async def start(self) -> str:
        self.proc, url = await start_backend(self._argv, self._env)
        return url

    async def watch(self) -> None:
        """Restart the backend whenever it exits while we are not stopping."""
        while not self.stopping:
            assert self.proc is not None
            code = await self.proc.wait()
            if self.stopping:
                return
            at = datetime.now(UTC)
            text = f"built-in backend (pid {self.proc.pid}) exited with code {code}; restarted"
            log.error(text)
            await asyncio.to_thread(
                self._store.add_annotation, Annotation("incident", at, at, text, None)
            )
            await asyncio.sleep(RESTART_PAUSE_S)  # do not spin if it dies at once
            try:
                await self.start()
            except StartError as exc:
                log.error("backend restart failed: %s; retrying", exc)


async def run_up(
    settings: Settings, *, config: Path | None, dashboard: bool, metrics_listen: str | None = None
) -> int:
    check_port_free(
        settings.backend.host, settings.backend.port, "--backend-port", "[backend] port"
    )
    if dashboard:
        d = settings.dashboard
        check_port_free(d.host, d.port, "--dashboard-port", "[dashboard] port")
    keys = up_secrets()
    env = dict(os.environ, **keys.env())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    dash: asyncio.subprocess.Process | None = None
    with (
        open_store(settings, verify=True) as store,
        metrics(store, settings, metrics_listen, "--metrics-listen"),
    ):
        supervisor = Supervisor(settings, store, env)
        url = await supervisor.start()
        settings = follow_backend(settings, url)
        watcher = loop.create_task(supervisor.watch())
        alerts = Alerting(store, settings)
        alerting_task = loop.create_task(alerts.run())
        scheduler = ProbeScheduler(
            settings, store, keys.jwt, runner=settings.runner, on_round=alerts.note_round
        )
        scheduler.start()
        if dashboard:
            d = settings.dashboard
            dash = await start_dashboard(dashboard_argv(settings, config, d.host, d.port), env)
        _announce(settings, url, keys, dashboard)
        await stop.wait()
        print("\nslawatch up: stopping ...", file=sys.stderr)
        supervisor.stopping = True
        await scheduler.stop()
        alerting_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await alerting_task
        await stop_process(dash, "dashboard")
        await stop_process(supervisor.proc, "backend")
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return 0


def _from(where: str, env_text: str, file_text: str) -> str:
    return env_text if where.startswith("SLAWATCH_") else file_text.format(where)


def _announce(settings: Settings, url: str, keys: UpSecrets, dashboard: bool) -> None:
    """Where everything is, and how another shell uses the secrets (never the secrets)."""
    d = settings.dashboard
    targets = ", ".join(sorted({p.target for p in settings.probes}))
    lines = [
        f"backend    {url}",
        f"probes     {len(settings.probes)} probe(s) against {targets}",
        f"results    {safe_url(settings.store.url)}",
    ]
    if dashboard:
        lines.append(f"dashboard  http://{d.host}:{d.port}")
    admin_url = url.replace("ws://", "http://").rsplit("/", 1)[0] + "/admin/faults"
    bearer = _from(keys.admin_from, "$SLAWATCH_ADMIN_TOKEN", "$(cat {})")
    lines.append(
        f'faults     curl -X PUT -H "Authorization: Bearer {bearer}" '
        f"-d '{{\"close_1011\": 0.2}}' {admin_url}"
    )
    secret = _from(keys.jwt_from, "from SLAWATCH_JWT_SECRET", "in {} (readable by you only)")
    lines.append(f"secrets    token secret {secret}")
    if not keys.jwt_from.startswith("SLAWATCH_"):
        gate = f"SLAWATCH_JWT_SECRET_FILE={keys.jwt_from} slawatch probe --target {url} --gate"
        lines.append(f"gate       {gate}")
    print("slawatch up\n  " + "\n  ".join(lines), flush=True)
