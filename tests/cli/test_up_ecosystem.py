"""`slawatch up --metrics-listen` serves /metrics, and its alerting pages a webhook of our own.

A real `slawatch up` (the built-in backend as its child): /metrics answers with
the probe's `slawatch_ws_sessions_total`, between the store's counts read just
before and just after the scrape; a fault switched on over the backend's
`/admin/faults` pages the `[[notify]]` webhook once (firing), `up` is restarted
while the incident is open, and once the fault is off the webhook gets one
resolved delivery for the same incident: no duplicate page across the restart.

The incident comes from failed rounds (`failure_threshold`): burn-rate alerts
stay firing for their short windows (5 and 30 minutes) after a fault, so
`min_samples` keeps them out of this test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from probes.records import Filters
from probes.results import ResultStore
from tests.cli.conftest import SLAWATCH
from tests.cli.test_up import eventually, free_port, health
from tests.support.backend_process import ADMIN_TOKEN
from tests.support.receiver import Receiver
from tests.support.scrape import samples, scrape_text, total


def switch_faults(port: int, faults: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/faults", data=json.dumps(faults).encode(), method="PUT",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 200


def start_up(config: Path, metrics_port: int, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    env["SLAWATCH_ADMIN_TOKEN"] = ADMIN_TOKEN  # so that the test can switch faults
    argv = [str(SLAWATCH), "up", "--no-dashboard", "--config", str(config),
            "--metrics-listen", f"127.0.0.1:{metrics_port}"]  # fmt: skip
    return subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def stop_up(up: subprocess.Popen[str]) -> str:
    """SIGINT, as Ctrl-C; returns what it wrote to stderr."""
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
    _, err = up.communicate()
    return err


def alive(up: subprocess.Popen[str]) -> None:
    if up.poll() is not None:
        raise AssertionError(f"slawatch up exited early: {up.communicate()[1]}")


def scraped(port: int) -> dict[Any, float] | None:
    try:
        return samples(scrape_text(port))
    except OSError:
        return None


def bodies(receiver: Receiver, status: str) -> list[dict[str, Any]]:
    return [body for path, _, body in receiver.accepted if body["status"] == status]


def test_up_serves_metrics_and_pages_a_webhook_once_per_state_across_a_restart(
    tmp_path: Path,
) -> None:
    port, metrics_port = free_port(), free_port()
    receiver = Receiver()
    receiver.start()
    store_url = f"sqlite:///{tmp_path / 'results.db'}"
    target = f"ws://127.0.0.1:{port}/ws"
    config = tmp_path / "slawatch.toml"
    config.write_text(
        f'[store]\nurl = "{store_url}"\n'
        f'[backend]\nport = {port}\ndb = "{tmp_path / "backend.db"}"\nstep_delay_ms = 5\n'
        f'[[probes]]\ntarget = "{target}"\nusers = 2\nevery = "4s"\n'
        'timeout = "3500ms"\nsession_timeout = "1500ms"\n'
        "[alerts]\nfailure_threshold = 2\nsuccess_threshold = 2\nmin_samples = 100000\n"
        f'[[notify]]\nname = "hook"\nkind = "webhook"\nurl = "{receiver.url("/hook")}"\n'
    )
    errors = []
    up = start_up(config, metrics_port, tmp_path)
    try:
        with ResultStore.open(store_url) as store:
            since = datetime.now(UTC) - timedelta(minutes=1)

            def stored_sessions() -> int:
                return len(store.sessions_between(since, datetime.now(UTC) + timedelta(1)))

            page = eventually(
                lambda: (
                    (p := scraped(metrics_port))
                    and total(p, "slawatch_ws_sessions_total", probe="default", target=target) > 0
                    and p
                )
            )
            before = stored_sessions()
            page = eventually(lambda: scraped(metrics_port))
            after = stored_sessions()
            counted = total(page, "slawatch_ws_sessions_total", probe="default", target=target)
            assert before <= counted <= after
            assert total(page, "slawatch_store_up") == 1
            assert receiver.accepted == []  # healthy rounds page nobody

            switch_faults(port, {"close_1011": 1})
            (firing,) = eventually(lambda: bodies(receiver, "firing"))
            assert firing["probe"] == "default" and firing["target"] == target
            assert firing["objective"] is None and firing["resolved_at"] is None
            page = eventually(
                lambda: (
                    (p := scraped(metrics_port))
                    and total(p, "slawatch_ws_close_codes_total", code="1011") > 0
                    and p
                )
            )
            errors.append(stop_up(up))  # restarted while the incident is open

            up = start_up(config, metrics_port, tmp_path)
            eventually(lambda: health(port))
            switch_faults(port, {})  # the new backend child starts without faults anyway
            (resolved,) = eventually(lambda: bodies(receiver, "resolved"), timeout_s=90)
            assert resolved["incident_id"] == firing["incident_id"]
            assert resolved["resolved_at"] is not None
            # A few more rounds after the resolve: nothing else is sent.
            resolved_at = datetime.fromisoformat(resolved["resolved_at"].replace("Z", "+00:00"))
            eventually(
                lambda: len(
                    [r for r in store.rounds_between(resolved_at, datetime.now(UTC), Filters())
                     if r["status"] == "passed"]
                ) >= 3
            )  # fmt: skip
            assert [b["status"] for b in (body for _, _, body in receiver.accepted)] == [
                "firing",
                "resolved",
            ]
            (incident,) = store.incidents_between(since, datetime.now(UTC))
            assert incident.id == firing["incident_id"] and incident.resolved_at is not None
    finally:
        errors.append(stop_up(up))
        receiver.stop()
    for err in errors:
        assert "Traceback" not in err
