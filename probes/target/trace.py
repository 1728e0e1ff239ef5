"""``slawatch probe --trace``: every frame of one session, how the profile read it, the record.

A ``Trace`` is handed to a session in its spec; the session calls it for
each frame it sends and receives, and with its record at the end. Each line
says the time since the session started, the direction, the frame (tokens
redacted, long frames shortened), the event type read from it and the
milestone it counts as. It writes through a callable so the CLI decides
where the lines go; nothing here prints on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from time import perf_counter
from typing import Any

from probes.judging.rules import Rules
from probes.records import SessionResult
from probes.target.redaction import Secrets, redact

MAX_FRAME = 400


class Trace:
    """Lines for one session's frames; ``bind`` gives it the session's rules and secrets."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.rules: Rules | None = None
        self.hidden = Secrets("")
        self.t0 = perf_counter()

    def bind(self, rules: Rules, hidden: Secrets) -> None:
        self.rules, self.hidden, self.t0 = rules, hidden, perf_counter()

    def _clean(self, text: str | bytes) -> str:
        if not isinstance(text, str):
            return f"<binary frame, {len(text)} bytes>"
        text = redact(text, self.hidden)
        return text if len(text) <= MAX_FRAME else text[:MAX_FRAME] + f"... ({len(text)} chars)"

    def _line(self, arrow: str, text: str) -> None:
        self.write(f"{(perf_counter() - self.t0) * 1000.0:9.1f} ms {arrow} {text}")

    def sent(self, text: str, *, control: bool = False) -> None:
        self._line(">>", self._clean(text) + ("   (transport reply)" if control else ""))

    def received(self, raw: str | bytes, kind: str | None, milestone: str) -> None:
        read = f"type {kind!r}" if kind is not None else "no type"
        self._line("<<", f"{self._clean(raw)}\n{'':14}{read} -> {milestone}")

    def milestone(self, kind: str | None, value: Any, action: str | None) -> str:
        """What this event counts as, in the profile's words."""
        rules = self.rules
        if kind is None or rules is None:
            return "not an event (malformed: no type where the profile reads it)"
        if action == "reply":
            return "heartbeat: answered"
        if action == "refused":
            return "refused (auth.refused_events)"
        if action in ("ok", "fail"):
            return f"handshake step {'completed' if action == 'ok' else 'failed'}"
        if kind in rules.ignore:
            return "ignored (events.ignore)"
        names = [
            name
            for name in ("start", "first", "tool_start", "tool_end")
            if kind in getattr(rules, name)
        ]
        if kind in rules.done:
            names.append("done (ok)" if rules.done_ok(value) else "done, NOT ok (done_ok)")
        if rules.is_error(kind, value):
            names.append("error")
        return "counted: " + (", ".join(names) if names else "a counted event")

    def record(self, result: SessionResult) -> None:
        self.write("record:")
        for f in fields(result):
            value = getattr(result, f.name)
            if f.name == "events":
                value = [
                    f"{e.type}@{e.ms:.1f}ms" + (" FOREIGN" if e.foreign else "") for e in value
                ]
            self.write(f"  {f.name}: {value}")
