"""Reading a session's frames as its profile says: the hot path of every probe.

``Plan`` is a profile compiled for reading (per phase, which event types
end it and how); ``Reader`` moves frames for one session: it sends filled
templates, decodes what arrives with the codec, stamps and keeps every
event for the judge, answers heartbeats, notes canaries of other users, and
returns when the phase's ending event arrives. Judging the stream is
``probes.judging.stream``'s, after the session.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from probes.judging.findings import Failure
from probes.judging.rules import Rules, describe, rules_for
from probes.profiles.model import Profile, Step
from probes.profiles.paths import compile_path, lookup
from probes.profiles.templates import fill, names_in
from probes.records import Reason
from probes.target.connection import StampedConnection, line
from probes.target.frames import CONTROL, Codec, FrameError, JsonCodec
from probes.target.redaction import Secrets, redact
from probes.target.trace import Trace

NONCE_PREFIX = "slwn"
NONCE = re.compile(NONCE_PREFIX + "[0-9a-f]{16}")
# What an event type does to the phase being read.
DONE, ERROR, REFUSED, REPLY, OK, FAIL = "done", "error", "refused", "reply", "ok", "fail"


@dataclass(frozen=True, slots=True)
class Plan:
    """Per phase, event type -> action; and the heartbeat replies by type."""

    run: Mapping[str, str]
    steps: tuple[Mapping[str, str], ...]
    replies: Mapping[str, str]
    rules: Rules
    uses_b64: bool  # a template needs {token_b64url}


def _phase(profile: Profile, own: Mapping[str, str]) -> dict[str, str]:
    actions = {kind: REFUSED for kind in profile.auth.refused_events}
    actions.update(own)
    actions.update({r.when_type: REPLY for r in profile.heartbeat.reply})
    return actions


_PLANS: dict[int, tuple[Profile, Plan]] = {}


def plan_for(profile: Profile) -> Plan:
    """``profile`` compiled for reading, cached by the object's identity (see ``rules_for``)."""
    hit = _PLANS.get(id(profile))
    if hit is not None and hit[0] is profile:
        return hit[1]
    if len(_PLANS) > 256:
        _PLANS.clear()
    plan = _plan(profile)
    _PLANS[id(profile)] = (profile, plan)
    return plan


def _plan(profile: Profile) -> Plan:
    m = profile.milestones
    run = {kind: ERROR for kind in m.error} | {kind: DONE for kind in m.done}
    steps = tuple(
        _phase(profile, {kind: FAIL for kind in s.fail} | {kind: OK for kind in s.expect})
        for s in profile.handshake
    )
    return Plan(
        run=_phase(profile, run),
        steps=steps,
        replies={r.when_type: r.send for r in profile.heartbeat.reply},
        rules=rules_for(profile),
        uses_b64=any("token_b64url" in names_in(t) for t in _templates(profile)),
    )


def _templates(profile: Profile) -> list[str]:
    auth, conn = profile.auth, profile.connect
    return [
        auth.header_value, auth.subprotocol, auth.message, *profile.chat.send,
        *(s.send for s in profile.handshake), *(r.send for r in profile.heartbeat.reply),
        *(v for _, v in conn.headers), *(v for _, v in conn.query), *conn.subprotocols,
    ]  # fmt: skip


class Reader:
    """One session's frames: what was received (with arrival times) and what went wrong."""

    def __init__(
        self,
        profile: Profile,
        plan: Plan,
        codec: Codec,
        values: dict[str, str],
        *,
        hidden: Secrets,
        nonce: str,
        trace: Trace | None,
    ) -> None:
        self.plan, self.codec, self.values, self.hidden = plan, codec, values, hidden
        self.received: list[tuple[float, Any]] = []
        self.failures: list[Failure] = []
        self.canary_foreign: set[int] = set()
        self.sent_at: float | None = None  # when the first chat frame was sent
        self.ws: StampedConnection = None  # type: ignore[assignment]  # set by attach
        self._user_id, self._nonce = values["user_id"], nonce
        self._correlate = compile_path(profile.chat.correlate_path)
        self._user = compile_path(profile.isolation.user_path)
        self._canary = profile.isolation.canary
        self._fatal = profile.milestones.error_fatal
        self._trace = trace

    def attach(self, ws: StampedConnection) -> None:
        self.ws = ws

    def fail(self, reason: Reason, detail: str, *, decisive: bool = False) -> None:
        """Note a failure; its text is redacted before it is shortened (a cut token still hides)."""
        self.failures.append(Failure(reason, line(redact(detail, self.hidden)), decisive))

    async def send(self, template: str, event: Any = None) -> None:
        text = fill(template, self.values, event)
        if self._trace is not None:
            self._trace.sent(text)
        await self.ws.send(text)

    def _belongs(self, value: Any) -> bool:
        """This chat's event: the request id where the profile correlates, not another user's."""
        if self._correlate and lookup(value, self._correlate) != self.values["request_id"]:
            return False
        uid = lookup(value, self._user) if self._user else None
        return uid is None or uid == self._user_id

    def _foreign_canary(self, raw: str | bytes) -> bool:
        own = self._nonce
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        return any(n != own for n in NONCE.findall(text))

    async def _flush(self) -> None:
        outgoing = self.codec.outgoing
        while outgoing:
            text = outgoing.pop(0)
            if self._trace is not None:
                self._trace.sent(text, control=True)
            await self.ws.send(text)

    async def read(self, actions: Mapping[str, str]) -> str:
        """Read until an event ends this phase; returns its action (DONE, OK, FAIL, ...)."""
        ws, decode, rules, received = self.ws, self.codec.decode, self.plan.rules, self.received
        recv, arrivals, trace = ws.recv, ws.arrivals, self._trace
        errors_by_path, outgoing, canary = rules.error_if_present, self.codec.outgoing, self._canary
        # agent-chat v1's case, the hot path: JSON frames, the type a top-level key.
        loads = json.loads if type(self.codec) is JsonCodec else None
        flat_type = len(rules.type_keys) == 1 and not rules.type_from_keys
        type_key = rules.type_keys[0] if flat_type else None
        event_type = rules.event_type
        while True:
            raw = await recv()
            at = arrivals.popleft() if arrivals else perf_counter()
            try:
                if loads is not None and type(raw) is str:
                    try:
                        value = loads(raw)
                    except ValueError as exc:
                        raise FrameError(f"frame is not JSON: {exc}") from None
                else:
                    value = decode(raw)
            except FrameError as exc:
                self.fail("protocol_error", str(exc))
                if trace is not None:
                    trace.received(raw, None, f"unreadable: {exc}")
                continue
            if outgoing:
                await self._flush()
            if value is CONTROL:
                if trace is not None:
                    trace.received(raw, None, "transport packet (answered by the codec)")
                continue
            index = len(received)
            received.append((at, value))
            if canary and self._foreign_canary(raw):
                self.canary_foreign.add(index)
            if type_key is not None and type(value) is dict:
                kind = value.get(type_key)
                kind = kind if type(kind) is str else None
            else:
                kind = event_type(value)
            action = actions.get(kind) if kind is not None else None
            if (
                action is None
                and errors_by_path
                and kind is not None
                and rules.is_error(kind, value)
            ):
                action = ERROR
            if trace is not None:
                trace.received(raw, kind, trace.milestone(kind, value, action))
            if action is None:
                continue
            if action == REPLY:
                await self.send(self.plan.replies[kind], value)  # type: ignore[index]
                continue
            if action in (DONE, ERROR) and (
                index in self.canary_foreign or not self._belongs(value)
            ):
                continue
            if action == REFUSED:
                self.fail("refused", f"{describe(kind, value, rules)} ({kind})")  # type: ignore[arg-type]
            if action == ERROR and not self._fatal:
                continue
            return action

    async def step(self, index: int, step: Step, actions: Mapping[str, str]) -> bool:
        """One handshake step: send its frame, wait for an ``expect`` type; False when it failed."""
        if step.send:
            await self.send(step.send)
        try:
            async with asyncio.timeout(step.timeout_s) as scope:
                action = await self.read(actions)
        except TimeoutError:
            if not scope.expired():
                raise
            wanted = " or ".join(step.expect)
            self.fail(
                "protocol_error",
                f"handshake step {index + 1}: no {wanted} within {step.timeout_s:g} s",
                decisive=True,
            )
            return False
        if action == OK:
            return True
        if action == FAIL:
            last = self.received[-1][1]
            kind = self.plan.rules.event_type(last) or "?"
            self.fail(
                "protocol_error",
                f"handshake step {index + 1}: {kind}: {describe(kind, last, self.plan.rules)}",
                decisive=True,
            )
        return False
