"""``slawatch up``: the built-in backend (a child process), the scheduler and the dashboard.

A fresh random token secret and admin token are made at every start and shared
with the backend through its environment only. A backend that dies is
restarted, and its death is stored as an ``incident`` annotation so that the
gap in the charts has its explanation. Ctrl-C (or SIGTERM) stops all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from probes.alerting.service import Alerting
from probes.cli.common import open_store
from probes.cli.ecosystem import metrics
from probes.cli.processes import backend_argv, dashboard_argv
from probes.config import Settings
from probes.errors import StartError
from probes.records import Annotation
from probes.results import ResultStore
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
    raise StartError(f"backend exited with code {code} before listening (port in use?)")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


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
    secret = secrets.token_urlsafe(48)
    admin = secrets.token_urlsafe(24)
    env = dict(os.environ, SLAWATCH_JWT_SECRET=secret, SLAWATCH_ADMIN_TOKEN=admin)
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
        try:
            url = await supervisor.start()
        except StartError as exc:
            print(f"slawatch up: {exc}", file=sys.stderr)
            return 1
        watcher = loop.create_task(supervisor.watch())
        alerts = Alerting(store, settings)
        alerting_task = loop.create_task(alerts.run())
        scheduler = ProbeScheduler(
            settings, store, secret, runner=settings.runner, on_round=alerts.note_round
        )
        scheduler.start()
        if dashboard:
            d = settings.dashboard
            argv = dashboard_argv(settings, config, d.host, d.port)
            dash = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=asyncio.subprocess.DEVNULL
            )
        _announce(settings, url, admin, dashboard)
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


def _announce(settings: Settings, url: str, admin: str, dashboard: bool) -> None:
    d = settings.dashboard
    lines = [
        f"backend    {url}",
        f"probes     {len(settings.probes)} probe(s) -> {settings.store.url}",
    ]
    if dashboard:
        lines.append(f"dashboard  http://{d.host}:{d.port}")
    admin_url = url.replace("ws://", "http://").rsplit("/", 1)[0] + "/admin/faults"
    lines.append(
        f"faults     curl -X PUT -H 'Authorization: Bearer {admin}' "
        f"-d '{{\"close_1011\": 0.2}}' {admin_url}"
    )
    print("slawatch up\n  " + "\n  ".join(lines), flush=True)
