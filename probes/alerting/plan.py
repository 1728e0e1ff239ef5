"""What to notify, and when: outbox rows from transitions, repeats, and the send-time rules.

Pure: no clock or store. A ``firing`` row is due ``min_duration`` after the
incident opened (so one bad round does not page); a ``resolved`` row at the
resolve, when the target wants it; ``repeat:N`` rows every ``repeat_interval``
after the first page while the incident stays open, at most ``max_repeats``
(0: no cap). At send time ``decide`` drops what has become pointless (a page
for an incident already resolved, a resolve whose page never went out) and
holds back what a maintenance window covers, so its end does not re-page
anything but an incident still open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from probes.alerting.incidents import Incident, Transition
from probes.config import NotifySettings
from probes.records import Annotation
from probes.results.incidents import Delivery, Planned

Decision = Literal["send", "drop", "hold"]


def on_transition(t: Transition, targets: Sequence[NotifySettings]) -> list[Planned]:
    """The outbox rows an opened or resolved incident adds."""
    out = []
    for target in targets:
        if t.status == "firing":
            due = t.incident.opened_at + timedelta(seconds=target.min_duration_s)
            out.append(Planned(t.incident.id, target.name, "firing", due))
        elif target.send_on_resolved and t.incident.resolved_at is not None:
            out.append(Planned(t.incident.id, target.name, "resolved", t.incident.resolved_at))
    return out


def repeats(
    open_incidents: Iterable[Incident],
    targets: Sequence[NotifySettings],
    events: dict[tuple[str, str], dict[str, str]],
) -> list[Planned]:
    """The next ``repeat:N`` row of each open incident already paged, within the cap."""
    out = []
    for incident in open_incidents:
        for target in targets:
            mine = events.get((incident.id, target.name), {})
            if mine.get("firing") != "sent":
                continue
            done = sum(1 for e in mine if e.startswith("repeat:"))
            if target.max_repeats and done >= target.max_repeats:
                continue
            first = incident.opened_at + timedelta(seconds=target.min_duration_s)
            due = first + timedelta(seconds=target.repeat_interval_s * (done + 1))
            out.append(Planned(incident.id, target.name, f"repeat:{done + 1}", due))
    return out


def paused_until(
    incident: Incident, maintenance: Iterable[Annotation], now: datetime
) -> datetime | None:
    """The end of the maintenance window covering the incident's target now (None: none)."""
    ends = []
    for note in maintenance:
        if note.kind != "maintenance" or note.target not in (None, incident.subject.target):
            continue
        if note.start <= now and (note.end is None or now < note.end):
            ends.append(note.end or now + timedelta(minutes=1))
    return max(ends) if ends else None


def decide(delivery: Delivery, page_status: str | None, paused: datetime | None) -> Decision:
    """Send, drop or hold one due delivery; ``page_status`` is its ``firing`` row's status."""
    if delivery.event == "resolved":
        if page_status != "sent":
            return "drop"  # the page never went out: nothing to resolve
        return "hold" if paused else "send"
    if delivery.incident.resolved_at is not None:
        return "drop"  # resolved before its page was due, or during maintenance
    return "hold" if paused else "send"


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts + 1``: 2, 4, 8 ... seconds, at most 5 minutes."""
    return timedelta(seconds=min(300, 2 ** (attempts + 1)))
