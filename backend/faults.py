"""Fault switches: an immutable parsed value and pure decisions over an injected RNG.

The backend misbehaves on purpose so that a monitor can be seen catching it.
Parsing gives errors that name the fault; every decision takes the `Faults`
value and a `random.Random` so that a seeded run is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

EVENT_TYPES = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)
MESSAGE_TYPES = (*EVENT_TYPES, "thread_created", "messages_stored", "thread", "error")
DB_OPERATIONS = ("thread_create", "message_batch", "result_store", "data_retrieval")
ALL_OPERATIONS = "*"

Pairs = tuple[tuple[str, float], ...]
T = TypeVar("T")


class FaultError(ValueError):
    """A fault name or value that cannot be parsed; `fault` names the culprit."""

    def __init__(self, fault: str, message: str) -> None:
        super().__init__(f"{fault}: {message}")
        self.fault = fault


@dataclass(frozen=True)
class Faults:
    """The active fault switches; the default value is 'no faults'."""

    close_1011: float = 0.0
    drop_event: Pairs = ()
    delay_ms: Pairs = ()
    db_delay_ms: Pairs = ()
    leak_kb: int = 0
    cross_talk: float = 0.0
    strip_auth_header: bool = False
    reject_rate: float = 0.0

    def value_for(self, name: str, key: str) -> float:
        """The value of a per-type fault (`drop_event`, `delay_ms`, `db_delay_ms`) for `key`."""
        pairs: Pairs = getattr(self, name)
        fallback = 0.0
        for candidate, value in pairs:
            if candidate == key:
                return value
            if candidate == ALL_OPERATIONS:
                fallback = value
        return fallback


# --- parsing ---------------------------------------------------------------


def _probability(name: str, raw: object) -> float:
    value = _number(name, raw)
    if not 0.0 <= value <= 1.0:
        raise FaultError(name, f"probability must be between 0 and 1, got {raw!r}")
    return value


def _number(name: str, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise FaultError(name, f"expected a number, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise FaultError(name, f"expected a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FaultError(name, f"expected a finite number, got {raw!r}")
    return value


def _milliseconds(name: str, raw: object) -> float:
    value = _number(name, raw)
    if not 0.0 <= value <= 600_000.0:
        raise FaultError(name, f"milliseconds must be between 0 and 600000, got {raw!r}")
    return value


def _boolean(name: str, raw: object) -> bool:
    text = str(raw).strip().lower() if not isinstance(raw, bool) else str(raw).lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise FaultError(name, f"expected true or false, got {raw!r}")


def _kilobytes(name: str, raw: object) -> int:
    value = _number(name, raw)
    if value != int(value) or not 0 <= value <= 1_048_576:
        raise FaultError(name, f"kilobytes must be a whole number 0..1048576, got {raw!r}")
    return int(value)


def _pairs(
    name: str, raw: object, keys: Sequence[str], value: Callable[[str, object], float]
) -> Pairs:
    """Parse `KEY:VALUE[,KEY:VALUE...]` (or a JSON object) into sorted pairs."""
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, str):
        items = [_split_pair(name, part) for part in raw.split(",") if part.strip()]
    else:
        raise FaultError(name, f"expected 'TYPE:VALUE[,TYPE:VALUE...]', got {raw!r}")
    parsed: dict[str, float] = {}
    for key, text in items:
        if key not in keys:
            raise FaultError(name, f"unknown type {key!r} (known: {', '.join(keys)})")
        parsed[key] = value(name, text)
    return tuple(sorted(parsed.items()))


def _split_pair(name: str, part: str) -> tuple[str, object]:
    key, sep, text = part.strip().partition(":")
    if not sep or not key or not text:
        raise FaultError(name, f"expected 'TYPE:VALUE', got {part.strip()!r}")
    return key.strip(), text.strip()


def _db_delay(name: str, raw: object) -> Pairs:
    """A bare number applies to every DB operation; `OP:ms` pairs to named ones."""
    bare = isinstance(raw, int | float) or (isinstance(raw, str) and ":" not in raw)
    if bare and not isinstance(raw, bool):
        return ((ALL_OPERATIONS, _milliseconds(name, raw)),)
    return _pairs(name, raw, (ALL_OPERATIONS, *DB_OPERATIONS), _milliseconds)


_PARSERS: dict[str, Callable[[str, object], object]] = {
    "close_1011": _probability,
    "drop_event": lambda n, r: _pairs(n, r, MESSAGE_TYPES, _probability),
    "delay_ms": lambda n, r: _pairs(n, r, MESSAGE_TYPES, _milliseconds),
    "db_delay_ms": _db_delay,
    "leak_kb": _kilobytes,
    "cross_talk": _probability,
    "strip_auth_header": _boolean,
    "reject_rate": _probability,
}
FAULT_NAMES = tuple(_PARSERS)


def parse_faults(values: Mapping[str, object]) -> Faults:
    """Build a `Faults` from names and raw values (CLI strings or JSON values)."""
    changes: dict[str, object] = {}
    for name, raw in values.items():
        parser = _PARSERS.get(name)
        if parser is None:
            raise FaultError(name, f"unknown fault (known: {', '.join(FAULT_NAMES)})")
        changes[name] = parser(name, raw)
    return replace(Faults(), **changes)  # type: ignore[arg-type]


def parse_assignments(assignments: Sequence[str]) -> Faults:
    """Parse repeated `NAME=VALUE` command-line arguments; later ones win."""
    values: dict[str, object] = {}
    for text in assignments:
        name, sep, raw = text.partition("=")
        if not sep or not name.strip():
            raise FaultError(text, "expected NAME=VALUE")
        values[name.strip()] = raw.strip()
    return parse_faults(values)


def faults_to_json(faults: Faults) -> dict[str, object]:
    """The active (non-default) faults, in the syntax `parse_faults` accepts back."""
    out: dict[str, object] = {}
    default = Faults()
    for name in FAULT_NAMES:
        value = getattr(faults, name)
        if value == getattr(default, name):
            continue
        if isinstance(value, tuple) and len(value) == 1 and value[0][0] == ALL_OPERATIONS:
            out[name] = value[0][1]
        elif isinstance(value, tuple):
            out[name] = ",".join(f"{key}:{_plain(v)}" for key, v in value)
        else:
            out[name] = value
    return out


def _plain(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


# --- pure decisions ----------------------------------------------------------


def _chance(rng: random.Random, p: float) -> bool:
    """True with probability p; draws nothing when p is 0 or 1."""
    if p <= 0.0:
        return False
    return p >= 1.0 or rng.random() < p


def should_reject_handshake(faults: Faults, rng: random.Random) -> bool:
    """`reject_rate`: refuse this handshake with HTTP 503."""
    return _chance(rng, faults.reject_rate)


def should_drop(faults: Faults, rng: random.Random, message_type: str) -> bool:
    """`drop_event`: do not send this message."""
    return _chance(rng, faults.value_for("drop_event", message_type))


def send_delay_ms(faults: Faults, message_type: str) -> float:
    """`delay_ms`: how much later this message type is sent."""
    return faults.value_for("delay_ms", message_type)


def db_delay_ms(faults: Faults, operation: str) -> float:
    """`db_delay_ms`: extra time for one DB operation."""
    return faults.value_for("db_delay_ms", operation)


def close_1011_after(faults: Faults, rng: random.Random, n_events: int) -> int | None:
    """`close_1011`: the number of events to send before closing with 1011, or None."""
    if n_events < 2 or not _chance(rng, faults.close_1011):
        return None
    return rng.randint(1, n_events - 1)


def cross_talk_victim(faults: Faults, rng: random.Random, others: Sequence[T]) -> T | None:
    """`cross_talk`: the other session that also receives this event, or None."""
    if not others or not _chance(rng, faults.cross_talk):
        return None
    return others[rng.randrange(len(others))]


def leak_bytes(faults: Faults) -> int:
    """`leak_kb`: bytes one run keeps forever."""
    return faults.leak_kb * 1024


class FaultBox:
    """The live fault switches of one server: current value, seeded RNG, leaked memory."""

    def __init__(self, faults: Faults, seed: int | None) -> None:
        self.current = faults
        self.rng = random.Random(seed)
        self._leaked: list[bytearray] = []

    def leak(self, nbytes: int) -> None:
        """Retain `nbytes` of touched memory for the life of the server."""
        if nbytes > 0:
            self._leaked.append(bytearray(b"\xa5") * nbytes)

    @property
    def leaked_bytes(self) -> int:
        """How much memory the `leak_kb` fault has retained so far."""
        return sum(len(chunk) for chunk in self._leaked)
