"""A real Alertmanager receives the incident of a fault switched on in the built-in backend,
and shows it resolved once the fault is switched off; exactly one incident for the fault."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from probes.alerting.service import Alerting
from probes.config import parse_settings
from probes.results import ResultStore
from tests.support.backend_process import ADMIN_TOKEN, Backend, start_backends, stop_backends
from tests.support.ecosystem import alertmanager, get_json, wait_for
from tests.support.probing import probe_round


def switch_faults(backend: Backend, faults: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{backend.http}/admin/faults", data=json.dumps(faults).encode(), method="PUT",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 200


def alerts_for(base: str, incident_id: str) -> list[dict[str, Any]] | None:
    found = [
        a
        for a in get_json(f"{base}/api/v2/alerts")
        if a["labels"].get("incident_id") == incident_id
    ]
    return found or None


def test_alertmanager_shows_the_fault_firing_then_resolved(tmp_path: Path) -> None:
    (backend,) = start_backends(tmp_path, ())
    try:
        with (
            alertmanager(tmp_path) as base,
            ResultStore.open(f"sqlite:///{tmp_path / 's.db'}") as store,
        ):
            settings = parse_settings(
                "[alerts]\nmin_samples = 100000\n"
                f'[[notify]]\nname = "am"\nkind = "alertmanager"\nurl = "{base}"\n'
            )
            alerts = Alerting(store, settings)

            async def rounds(n: int) -> None:
                for _ in range(n):
                    r = await probe_round(backend.url, runner="eu-1")
                    store.save_round(r)
                    await alerts.judge(r)
                    await alerts.send_due()

            asyncio.run(rounds(1))
            switch_faults(backend, {"close_1011": 1})
            asyncio.run(rounds(3))
            (incident,) = store.open_incidents()
            (shown,) = wait_for(lambda: alerts_for(base, incident.id), "the alert in Alertmanager")
            assert shown["labels"] | {"incident_id": ""} == {
                "alertname": "SlawatchProbeFailing", "probe": "default",
                "target": backend.url, "runner": "eu-1", "severity": "page", "incident_id": "",
            }  # fmt: skip
            assert shown["status"]["state"] == "active"
            switch_faults(backend, {})
            asyncio.run(rounds(2))
            assert store.open_incidents() == []
            wait_for(
                lambda: True if alerts_for(base, incident.id) is None else None,
                "the alert to be resolved in Alertmanager",
            )
            (only,) = store.incidents_between(incident.opened_at, datetime.now(UTC))
            assert only.id == incident.id and only.resolved_at is not None
            sent = store.deliveries_sent(incident.id)
            assert sent == [("am", "firing", 0), ("am", "resolved", 0)]
    finally:
        stop_backends([backend])
