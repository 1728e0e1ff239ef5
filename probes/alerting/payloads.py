"""Request bodies for each kind of notify target: Alertmanager, a webhook, Slack.

Pure: the incident, the event and the time in, a JSON-ready value out. The
webhook body is the one issue 9 fixes (``docs/alerting.md``); Alertmanager gets
its ``/api/v2/alerts`` list with ``endsAt`` set on resolve (and, while firing,
far enough ahead that the next repeat arrives before it lapses); Slack gets an
incoming-webhook ``{text, blocks}``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from probes.alerting.incidents import Incident
from probes.config import NotifySettings, Settings


def status_of(event: str) -> str:
    return "resolved" if event == "resolved" else "firing"


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def link(settings: Settings, incident: Incident) -> str:
    """The dashboard's Live page for the incident's probe and its last round."""
    d = settings.dashboard
    query = {"incident": incident.id, "probe": incident.subject.probe}
    if run_id := incident.figures.get("run_id"):
        query["run_id"] = str(run_id)
    return f"http://{d.host}:{d.port}/?{urlencode(query)}"


def webhook(incident: Incident, event: str, settings: Settings) -> dict[str, Any]:
    s = incident.subject
    return {
        "status": status_of(event),
        "incident_id": incident.id,
        "objective": incident.objective,
        "probe": s.probe,
        "target": s.target,
        "runner": s.runner,
        "started_at": iso(incident.opened_at),
        "resolved_at": iso(incident.resolved_at) if event == "resolved" else None,
        "summary": incident.summary,
        "figures": incident.figures,
        "url": link(settings, incident),
    }


def alertmanager(
    incident: Incident, event: str, settings: Settings, target: NotifySettings, now: datetime
) -> list[dict[str, Any]]:
    s = incident.subject
    resolved = event == "resolved" and incident.resolved_at is not None
    ends = (
        incident.resolved_at if resolved else now + 2 * timedelta(seconds=target.repeat_interval_s)
    )
    labels = {
        "alertname": "SlawatchSloBurnRate" if incident.kind == "slo" else "SlawatchProbeFailing",
        "probe": s.probe,
        "target": s.target,
        "runner": s.runner,
        "severity": incident.severity,
        "incident_id": incident.id,
    }
    if incident.objective:  # Alertmanager refuses empty label values
        labels["slo"] = incident.objective
    annotations = {
        "summary": incident.summary,
        "figures": json.dumps(incident.figures, sort_keys=True),
        "dashboard": link(settings, incident),
    }
    return [
        {
            "labels": labels,
            "annotations": annotations,
            "startsAt": iso(incident.opened_at),
            "endsAt": iso(ends),
            "generatorURL": link(settings, incident),
        }
    ]


def slack(incident: Incident, event: str, settings: Settings) -> dict[str, Any]:
    s = incident.subject
    state = "RESOLVED" if event == "resolved" else "FIRING"
    what = f"objective {incident.objective}" if incident.objective else f"probe {s.probe}"
    text = f"[{state}] {what} on {s.target} ({s.runner}): {incident.summary}"
    figures = ", ".join(f"{k} {v}" for k, v in sorted(incident.figures.items()))
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{state}* {what}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": incident.summary or "-"}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"target {s.target} · runner {s.runner}"},
                    {"type": "mrkdwn", "text": figures or "no figures"},
                    {"type": "mrkdwn", "text": f"<{link(settings, incident)}|dashboard>"},
                ],
            },
        ],
    }


def body(
    incident: Incident, event: str, settings: Settings, target: NotifySettings, now: datetime
) -> Any:
    if target.kind == "alertmanager":
        return alertmanager(incident, event, settings, target, now)
    if target.kind == "slack":
        return slack(incident, event, settings)
    return webhook(incident, event, settings)
