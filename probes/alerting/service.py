"""``Alerting``: judges each saved round into incidents, and delivers the outbox.

Two asyncio tasks of their own, beside the scheduler: one takes saved rounds
from a queue (``note_round``, the scheduler's ``on_round`` hook, never blocks),
evaluates them and stores the transitions with their outbox rows; the other
sends due outbox rows, one POST at a time, each within ``deadline_s``. Every
store call runs in a worker thread, so neither a slow store nor a hanging
receiver can stall the probes. A failed delivery is retried with backoff; a
sent one is marked sent at once, and only pending rows are ever sent, so a
restart resumes where it stopped without paging twice. A row is claimed before
its POST (``claim_notification``), so two runners over one store (``--ha``)
never both send it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from probes.alerting import payloads, plan
from probes.alerting.evaluate import evaluate_round
from probes.alerting.incidents import Evaluation, Thresholds, Tracked, Transition, step
from probes.alerting.send import DeliveryError, deliver
from probes.config import NotifySettings, Settings
from probes.records import RoundResult
from probes.results import DATABASE_ERRORS, ResultStore
from probes.results.incidents import Delivery

log = logging.getLogger("slawatch.alerting")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Alerting:
    """Incidents from saved rounds, and their notifications; ``run()`` until cancelled."""

    def __init__(
        self,
        store: ResultStore,
        settings: Settings,
        *,
        now: Callable[[], datetime] = utc_now,
        tick_s: float = 1.0,
        deadline_s: float = 10.0,
    ) -> None:
        self._store = store
        self._settings = settings
        self._now = now
        self._tick_s = tick_s
        self._deadline_s = deadline_s
        self._rounds: asyncio.Queue[RoundResult] = asyncio.Queue()
        self._targets = {t.name: t for t in settings.notify}
        a = settings.alerts
        self._thresholds = Thresholds(a.failure_threshold, a.success_threshold)

    def note_round(self, r: RoundResult) -> None:
        """The scheduler's ``on_round``: queue a saved round for judging (never blocks)."""
        self._rounds.put_nowait(r)

    async def run(self) -> None:
        await asyncio.gather(self._judge_forever(), self._send_forever())

    async def _judge_forever(self) -> None:
        while True:
            r = await self._rounds.get()
            try:
                await self.judge(r)
            except DATABASE_ERRORS as exc:  # the next round tries again
                log.error("incidents not updated after round %s: %s", r.run_id, exc)

    async def _send_forever(self) -> None:
        while True:
            try:
                await self.send_due()
            except DATABASE_ERRORS as exc:
                log.error("notification outbox unreadable: %s", exc)
            await asyncio.sleep(self._tick_s)  # the outbox's polling interval

    async def judge(self, r: RoundResult) -> list[Transition]:
        """Evaluate a saved round's subjects and store what changed; returns the transitions."""
        now = self._now()
        evals = await asyncio.to_thread(evaluate_round, self._store, self._settings, r, now)
        return await asyncio.to_thread(self._apply, evals, now)

    def _apply(self, evals: list[Evaluation], now: datetime) -> list[Transition]:
        known = self._store.incident_states([e.subject for e in evals])
        states: list[Tracked] = []
        transitions: list[Transition] = []
        for e in evals:
            state, change = step(
                known.get(e.subject.key), e, self._thresholds, now=now, new_id=uuid.uuid4().hex
            )
            states.append(state)
            if change is not None:
                transitions.append(change)
                log.warning("incident %s %s: %s", change.incident.id, change.status, e.summary)
        targets = list(self._targets.values())
        planned = [p for t in transitions for p in plan.on_transition(t, targets)]
        self._store.save_incidents(states, transitions, planned)
        return transitions

    async def send_due(self) -> int:
        """Plan repeats, then send (or drop, or hold) every due outbox row; returns sends."""
        now = self._now()
        due = await asyncio.to_thread(self._prepare, now)
        sent = 0
        for delivery, decision, paused in due:
            target = self._targets.get(delivery.target)
            if target is None:  # removed from the config: nobody to send to
                await self._finish(delivery, "dropped", now)
                continue
            if decision == "drop":
                await self._finish(delivery, "dropped", now)
            elif decision == "hold":
                await asyncio.to_thread(
                    self._store.finish_notification, delivery.id, status="pending",
                    error="held: maintenance", retry_at=paused,
                )  # fmt: skip
            else:
                sent += await self._send(delivery, target)
        return sent

    def _prepare(self, now: datetime) -> list[tuple[Delivery, plan.Decision, datetime | None]]:
        opened = self._store.open_incidents()
        targets = list(self._targets.values())
        events = self._store.notification_events([i.id for i in opened])
        self._store.plan_notifications(plan.repeats(opened, targets, events))
        due = self._store.due_notifications(now)
        notes = self._store.annotations_between(now - timedelta(days=1), now + timedelta(seconds=1))
        pages = self._store.notification_events([d.incident.id for d in due])
        out = []
        for d in due:
            paused = plan.paused_until(d.incident, notes, now)
            page = pages.get((d.incident.id, d.target), {}).get("firing")
            decision = plan.decide(d, page, paused)
            out.append((d, decision, paused))
        return out

    async def _send(self, delivery: Delivery, target: NotifySettings) -> int:
        now = self._now()
        lease = now + timedelta(seconds=3 * self._deadline_s)  # longer than one POST
        if not await asyncio.to_thread(self._store.claim_notification, delivery, lease):
            return 0  # another runner over this store is sending it
        body = payloads.body(delivery.incident, delivery.event, self._settings, target, now)
        try:
            key = f"{delivery.incident.id}:{target.name}:{delivery.event}"
            await deliver(target, body, key, self._deadline_s)
        except DeliveryError as exc:
            retry = self._now() + plan.backoff(delivery.attempts)
            log.warning("%s (try %d; again at %s)", exc, delivery.attempts + 1, retry.isoformat())
            await asyncio.to_thread(
                self._store.finish_notification, delivery.id, status="pending",
                error=str(exc), retry_at=retry,
            )  # fmt: skip
            return 0
        await self._finish(delivery, "sent", self._now())
        log.info("notify %r: %s of %s sent", target.name, delivery.event, delivery.incident.id)
        return 1

    async def _finish(self, delivery: Delivery, status: str, at: datetime) -> None:
        await asyncio.to_thread(self._store.finish_notification, delivery.id, status=status, at=at)
