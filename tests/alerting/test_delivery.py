"""Reliable delivery to webhook and Slack receivers that are down, answer 500, are slow or hang.

The receiver is a real HTTP server of the tests' own; the store is a real SQLite
file; rounds are plain records saved through ``save_round``; the clock is the
test's, so a retry's backoff passes without waiting. In the end each state
change of an incident is delivered exactly once to each target, also across a
restart of the alerting component, and the secret URL appears in no log line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probes.alerting.service import Alerting
from probes.config import Settings, parse_settings
from probes.records import Annotation, RoundResult, SessionResult
from probes.results import ResultStore
from tests.support.receiver import Receiver

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOKEN = "T0KEN-s3cr3t-abc"
CONFIG = """
[alerts]
min_samples = 100000  # rounds only: no burn-rate alert in these tests
[[notify]]
name = "hook"
kind = "webhook"
url = "env:SLAWATCH_TEST_HOOK"
{extra}
[[notify]]
name = "chat"
kind = "slack"
url = "env:SLAWATCH_TEST_SLACK"
{extra}
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def a_round(at: datetime, ok: bool) -> RoundResult:
    run_id = uuid.uuid4().hex
    user = SessionResult(
        run_id, "chat", "ws://127.0.0.1:1/ws", "eu-1", "u1", "header", at,
        connect_ms=1.0, close_code=1000 if ok else 1011, outcome="ok" if ok else "failed",
        reason=None if ok else "closed_abnormally",
    )  # fmt: skip
    status = "passed" if ok else "failed"
    return RoundResult(
        run_id, "chat", "ws://127.0.0.1:1/ws", "eu-1", at, at, status, sessions=(user,)
    )


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    r.stop()  # the port is known, the receiver is down
    monkeypatch.setenv("SLAWATCH_TEST_HOOK", r.url(f"/hook/{TOKEN}"))
    monkeypatch.setenv("SLAWATCH_TEST_SLACK", r.url(f"/services/{TOKEN}"))
    yield r
    r.stop()


def settings(extra: str = "") -> Settings:
    return parse_settings(CONFIG.format(extra=extra))


async def rounds(alerts: Alerting, store: ResultStore, clock: Clock, *oks: bool) -> None:
    for ok in oks:
        clock.advance(60)
        r = a_round(clock.now, ok)
        store.save_round(r)
        await alerts.judge(r)


def deliveries(receiver: Receiver) -> Counter[tuple[str, str]]:
    """(target path, status) of every accepted request."""
    out: Counter[tuple[str, str]] = Counter()
    for path, _key, body in receiver.accepted:
        status = body["status"] if "status" in body else body["text"].split("]")[0][1:].lower()
        out[path.split("/")[1], status] += 1
    return out


def test_down_then_500_then_slow_ends_in_one_delivery_per_state_change(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    url = f"sqlite:///{tmp_path / 's.db'}"

    async def scenario() -> str:
        with ResultStore.open(url) as store:
            alerts = Alerting(store, settings(), now=clock, deadline_s=5)
            await rounds(alerts, store, clock, False, False)  # failure_threshold 2: opens
            (incident,) = store.open_incidents()
            assert await alerts.send_due() == 0  # the receiver is down
            receiver.fail_next = 2
            receiver.start()
            clock.advance(10)
            assert await alerts.send_due() == 0  # 500 to both
            receiver.delay = threading_event_set_soon()
            clock.advance(10)
            assert await alerts.send_due() == 2  # slow, within the deadline
            receiver.delay = None
            clock.advance(600)
            assert await alerts.send_due() == 0  # nothing twice
        with ResultStore.open(url) as store:  # a restart: a new component over the store
            again = Alerting(store, settings(), now=clock, deadline_s=5)
            assert await again.send_due() == 0
            await rounds(again, store, clock, True, True)  # success_threshold 2: resolves
            assert await again.send_due() == 2
            clock.advance(600)
            assert await again.send_due() == 0
            return incident.id

    incident_id = asyncio.run(scenario())
    assert deliveries(receiver) == {
        ("hook", "firing"): 1, ("hook", "resolved"): 1,
        ("services", "firing"): 1, ("services", "resolved"): 1,
    }  # fmt: skip
    hook = [body for path, _, body in receiver.accepted if path.startswith("/hook")]
    assert hook[0]["incident_id"] == incident_id == hook[1]["incident_id"]
    assert set(hook[0]) == {
        "status", "incident_id", "objective", "probe", "target", "runner", "started_at",
        "resolved_at", "summary", "figures", "url",
    }  # fmt: skip
    assert hook[0]["resolved_at"] is None and hook[1]["resolved_at"] is not None
    assert hook[0]["started_at"] == "2026-12-01T12:02:00Z"
    slack = [body for path, _, body in receiver.accepted if path.startswith("/services")]
    assert set(slack[0]) == {"text", "blocks"}
    assert receiver.seen == 2 + 2 + 2  # two refused by 500, then one of each state
    assert TOKEN not in caplog.text
    assert "500" in caplog.text  # the failures were logged, without the URL


def threading_event_set_soon() -> threading.Event:
    done = threading.Event()
    threading.Timer(0.3, done.set).start()  # a slow receiver: answers after 0.3 s
    return done


def test_a_hanging_receiver_does_not_stall_the_event_loop(
    tmp_path: Path, receiver: Receiver
) -> None:
    release = threading.Event()
    receiver.delay = release
    receiver.start()
    clock = Clock()

    async def scenario() -> tuple[int, int]:
        with ResultStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
            alerts = Alerting(store, settings(), now=clock, deadline_s=1)
            await rounds(alerts, store, clock, False, False)
            ticks = 0

            async def other_work() -> None:
                nonlocal ticks
                while not release.is_set() and ticks < 1000:
                    ticks += 1
                    await asyncio.sleep(0)

            worker = asyncio.get_running_loop().create_task(other_work())
            sent = await alerts.send_due()  # both time out at the deadline
            still_hanging = not release.is_set()
            release.set()
            await worker
            assert still_hanging
            return sent, ticks

    sent, ticks = asyncio.run(scenario())
    assert sent == 0
    assert ticks > 0  # the loop kept running other tasks while the receiver hung


def test_min_duration_keeps_a_short_incident_from_paging_at_all(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.start()
    clock = Clock()

    async def scenario() -> None:
        with ResultStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
            alerts = Alerting(store, settings('min_duration = "10m"'), now=clock)
            await rounds(alerts, store, clock, False, False)
            assert await alerts.send_due() == 0  # not yet 10 minutes
            await rounds(alerts, store, clock, True, True)  # resolved after 2 minutes
            clock.advance(3600)
            assert await alerts.send_due() == 0

    asyncio.run(scenario())
    assert receiver.accepted == []


def test_repeats_while_open_up_to_the_cap(tmp_path: Path, receiver: Receiver) -> None:
    receiver.start()
    clock = Clock()

    async def scenario() -> None:
        extra = 'repeat_interval = "5m"\nmax_repeats = 2\nsend_on_resolved = false'
        with ResultStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
            alerts = Alerting(store, settings(extra), now=clock)
            await rounds(alerts, store, clock, False, False)
            assert await alerts.send_due() == 2
            for _ in range(4):
                clock.advance(301)
                await alerts.send_due()
            await rounds(alerts, store, clock, True, True)
            clock.advance(3600)
            assert await alerts.send_due() == 0  # send_on_resolved = false

    asyncio.run(scenario())
    assert deliveries(receiver) == {("hook", "firing"): 3, ("services", "firing"): 3}


@pytest.mark.parametrize("resolves_inside", [True, False])
def test_maintenance_holds_pages_and_its_end_pages_only_an_open_incident(
    tmp_path: Path, receiver: Receiver, resolves_inside: bool
) -> None:
    receiver.start()
    clock = Clock()

    async def scenario() -> None:
        with ResultStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
            end = T0 + timedelta(minutes=30)
            store.add_annotation(Annotation("maintenance", T0, end, "upgrade", None))
            alerts = Alerting(store, settings(), now=clock)
            await rounds(alerts, store, clock, False, False)
            assert await alerts.send_due() == 0  # held: maintenance
            if resolves_inside:
                await rounds(alerts, store, clock, True, True)
            clock.now = end + timedelta(seconds=1)
            await alerts.send_due()
            clock.advance(600)
            await alerts.send_due()

    asyncio.run(scenario())
    if resolves_inside:
        assert receiver.accepted == []  # nothing to say once it is over
    else:
        assert deliveries(receiver) == {("hook", "firing"): 1, ("services", "firing"): 1}


def test_two_runners_over_one_store_send_each_delivery_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    # Two --ha runners share one outbox: a row one of them is sending (its POST held
    # by the receiver) is not sent by the other, which sends the next row instead.
    release = threading.Event()
    receiver.delay = release
    receiver.start()
    clock = Clock()
    url = f"sqlite:///{tmp_path / 's.db'}"

    async def until_seen(n: int) -> None:
        deadline = asyncio.get_running_loop().time() + 10
        while receiver.seen < n:
            assert asyncio.get_running_loop().time() < deadline, "no request arrived"
            await asyncio.sleep(0.01)  # polling a condition, with a deadline

    async def scenario() -> list[int]:
        with ResultStore.open(url) as one, ResultStore.open(url) as other:
            first = Alerting(one, settings(), now=clock, deadline_s=5)
            second = Alerting(other, settings(), now=clock, deadline_s=5)
            await rounds(first, one, clock, False, False)  # opens: a firing row per target
            loop = asyncio.get_running_loop()
            a = loop.create_task(first.send_due())
            await until_seen(1)  # the first runner's POST of one row hangs
            b = loop.create_task(second.send_due())
            await until_seen(2)  # the second runner took the other row
            release.set()
            return list(await asyncio.gather(a, b))

    sent = asyncio.run(scenario())
    assert sorted(sent) == [1, 1]
    assert deliveries(receiver) == {("hook", "firing"): 1, ("services", "firing"): 1}
