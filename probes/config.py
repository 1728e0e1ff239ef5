"""``slawatch.toml`` -> validated, typed, immutable settings.

Parsing (``parse_settings``) takes text so tests feed it inline; reading the
file is ``load_settings``. Every error is a ``ConfigError`` whose message
starts with the key's dotted path, and unknown keys are rejected, so a typo
never passes silently. Business targets live here, never in code elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from probes.errors import ConfigError
from probes.judging.aggregate import parse_aggregate
from probes.records import DB_OPERATIONS
from probes.round_timing import ROUND_OVERHEAD_S

DEFAULT_EVENTS: tuple[str, ...] = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)
Sli = Literal[
    "session_success",
    "event_completeness",
    "no_internal_errors",
    "isolation",
    "first_event_latency",
    "completion_latency",
    "memory_growth",
    "db_latency",
    "auth_rejection",
]
SLIS: tuple[str, ...] = get_args(Sli)
AuthWay = Literal["header", "subprotocol", "both"]
DEFAULT_TARGET = "ws://127.0.0.1:8765/ws"
DEFAULT_CONFIG_PATH = Path("slawatch.toml")
PASSWORD_HASH = re.compile(r"pbkdf2_sha256\$(\d{5,7})\$([0-9a-f]{16,64})\$([0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = "sqlite:///data/slawatch.db"
    retention_days: float = 90.0  # raw rows older than this are pruned; rollups stay
    busy_timeout_s: float = 5.0  # one wait for a lock (SQLite busy_timeout, PG lock_timeout)
    lock_wait_s: float = 60.0  # writers retry a locked store this long, then exit 3
    spill_file: str = ""  # unsaved rounds kept here; "" = beside the SQLite file / state dir
    # Rounds, per-minute and per-hour rollups, the SLI cache: pruned after this.
    rollup_retention_days: float = 400.0


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """How ``slawatch up`` starts the built-in backend."""

    host: str = "127.0.0.1"
    port: int = 8765
    db: str = "data/backend.db"
    step_delay_ms: float = 20.0
    max_connections: int = 2000
    faults: tuple[str, ...] = ()  # NAME=VALUE, as for `slawatch backend --fault`


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    host: str = "127.0.0.1"
    port: int = 8501
    refresh_s: float = 5.0
    password_hash: str = ""  # pbkdf2_sha256$iterations$salt$hash; needed beyond localhost


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """One scheduled probe: N users against one target, every ``every_s``."""

    name: str = "default"
    target: str = DEFAULT_TARGET
    healthz: str = ""  # derived from target when empty; "off" disables memory sampling
    users: int = 5
    every_s: float = 60.0
    timeout_s: float = 30.0  # whole round; must be shorter than every_s
    session_timeout_s: float = 10.0
    auth: AuthWay = "both"
    message: str = "What is 12 * 7? Then search my notes for deploy."
    expected_events: tuple[str, ...] = DEFAULT_EVENTS
    bad_token_check: bool = True
    db_check: bool = True
    user_prefix: str = "probe-user"
    audience: str = "agent-chat"
    token_ttl_s: float = 600.0
    memory_interval_s: float = 0.25

    @property
    def healthz_url(self) -> str | None:
        """The target's ``/healthz`` URL, or None when memory sampling is off."""
        if self.healthz == "off":
            return None
        if self.healthz:
            return self.healthz
        parts = urlsplit(self.target)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, "/healthz", "", ""))


@dataclass(frozen=True, slots=True)
class SloSettings:
    """One objective: ``objective`` percent of ``sli``'s valid events good over ``window_s``."""

    name: str
    sli: Sli
    objective: float  # percent, e.g. 99.9
    window_s: float = 30 * 86400.0
    threshold_ms: float | None = None
    threshold_mb: float | None = None
    operation: str | None = None
    probe: str | None = None  # only this probe's records; None = all
    # session_success: sessions closed 1001/1012 (planned_close) are valid events too
    count_planned_closes: bool = False
    aggregate: str = "pooled"  # how locations combine: pooled, any, all, quorum:N

    @property
    def target_ratio(self) -> float:
        return self.objective / 100.0

    @property
    def threshold_text(self) -> str:
        """``≤ 500 ms`` or ``≤ 50 MB``; empty for SLIs without a threshold."""
        if self.threshold_ms is not None:
            return f"≤ {self.threshold_ms:g} ms"
        if self.threshold_mb is not None:
            return f"≤ {self.threshold_mb:g} MB"
        return ""


@dataclass(frozen=True, slots=True)
class AlertSettings:
    min_samples: int = 10  # a burn-rate alert needs this many valid events in each window
    failure_threshold: int = 2  # failed rounds in a row of a probe that open an incident
    success_threshold: int = 2  # healthy evaluations in a row that resolve an incident


NotifyKind = Literal["alertmanager", "webhook", "slack"]


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """One notification target (``[[notify]]``); ``url`` is a literal or ``env:NAME``."""

    name: str
    kind: NotifyKind
    url: str
    send_on_resolved: bool = True
    repeat_interval_s: float = 4 * 3600.0
    max_repeats: int = 0  # 0 = no cap
    min_duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class GateSettings:
    min_coverage: float = 90.0  # percent of scheduled rounds with data for a PASS


@dataclass(frozen=True, slots=True)
class Settings:
    runner: str = "local"
    store: StoreSettings = field(default_factory=StoreSettings)
    backend: BackendSettings = field(default_factory=BackendSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    gate: GateSettings = field(default_factory=GateSettings)
    probes: tuple[ProbeSettings, ...] = (ProbeSettings(),)
    slos: tuple[SloSettings, ...] = ()
    notify: tuple[NotifySettings, ...] = ()
    source: str = ""  # the text the settings were parsed from, for the digest
    path: str = ""  # the file they were read from; "" when no file was read

    @property
    def origin(self) -> str:
        """The config file in force, or ``defaults (no file)``."""
        return self.path or NO_FILE

    @property
    def digest(self) -> str:
        """SHA-256 of the config text, so a report names the exact config in force.

        Without a file (or with an empty one) it digests the effective settings
        instead (their ``repr``, deterministic for these frozen values): the
        SHA-256 of empty text would name nothing.
        """
        if self.source.strip():
            return hashlib.sha256(self.source.encode()).hexdigest()
        effective = replace(self, source="", path="")
        return hashlib.sha256(repr(effective).encode()).hexdigest()

    @property
    def digest_basis(self) -> str:
        """What ``digest`` is the SHA-256 of, in words."""
        return "the config text" if self.source.strip() else "the effective default settings"


NO_FILE = "defaults (no file)"
DAY = 86400.0


def default_slos() -> tuple[SloSettings, ...]:
    """The objectives in force when the file names none (DESIGN.md's defaults)."""
    month = 30 * DAY
    db = tuple(
        SloSettings(f"db-{op.replace('_', '-')}", "db_latency", 99.0, month, 50.0, None, op)
        for op in DB_OPERATIONS
    )
    return (
        SloSettings("session-success", "session_success", 99.9, month),
        SloSettings("event-completeness", "event_completeness", 99.9, month),
        SloSettings("no-internal-errors", "no_internal_errors", 99.9, month),
        SloSettings("isolation", "isolation", 100.0, month),
        SloSettings("first-event-latency", "first_event_latency", 99.0, month, 500.0),
        SloSettings("completion-latency", "completion_latency", 99.0, month, 5000.0),
        SloSettings("memory-growth", "memory_growth", 100.0, month, None, 50.0),
        *db,
        SloSettings("auth-rejection", "auth_rejection", 100.0, month),
    )


# --- value converters: each takes (key, raw) and returns the typed value ---------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY, None: 1.0}


def parse_duration(text: str | float | int) -> float:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"2w"`` or a number of seconds -> seconds."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h or 7d")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"expected a duration such as 30s, 5m, 1h or 7d, got {text!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


Conv = Callable[[Any], Any]


def _str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, got {raw!r}")
    return raw


def _nonempty(raw: Any) -> str:
    if not _str(raw).strip():
        raise ValueError("must not be empty")
    return str(raw)


def _bool(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"must be true or false, got {raw!r}")
    return raw


def _int(low: int, high: int) -> Conv:
    def conv(raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise ValueError(f"must be an integer from {low} to {high}, got {raw!r}")
        return raw

    return conv


def _num(low: float, high: float) -> Conv:
    def conv(raw: Any) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
            raise ValueError(f"must be a number from {low:g} to {high:g}, got {raw!r}")
        return float(raw)

    return conv


def _choice(*options: str) -> Conv:
    def conv(raw: Any) -> str:
        if raw not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {raw!r}")
        return str(raw)

    return conv


def _str_list(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise ValueError("must be a list of non-empty strings")
    return tuple(raw)


def _ws_url(raw: Any) -> str:
    text = _nonempty(raw)
    if urlsplit(text).scheme not in ("ws", "wss") or not urlsplit(text).hostname:
        raise ValueError(f"must be a ws:// or wss:// URL, got {text!r}")
    return text


def _healthz(raw: Any) -> str:
    text = _str(raw)
    if text in ("", "off") or urlsplit(text).scheme in ("http", "https"):
        return text
    raise ValueError(f'must be an http(s) URL or "off", got {text!r}')


def _store_url(raw: Any) -> str:
    text = _nonempty(raw)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", text):
        raise ValueError(
            f"must be an SQLAlchemy URL (sqlite:///... or postgresql+psycopg://...), got {text!r}"
        )
    return text


def _password_hash(raw: Any) -> str:
    text = _str(raw)
    if text and not PASSWORD_HASH.fullmatch(text):
        raise ValueError(
            "must be pbkdf2_sha256$<iterations>$<salt hex>$<64 hex digits> "
            "(made by `slawatch hash-password`)"
        )
    return text


def _aggregate(raw: Any) -> str:
    text = _str(raw)
    parse_aggregate(text)  # raises ValueError with the accepted forms
    return text


def _events(raw: Any) -> tuple[str, ...]:
    events = _str_list(raw)
    if len(events) < 2:
        raise ValueError("must name at least the first and the last event")
    return events


def _notify_url(raw: Any) -> str:
    """``env:NAME`` (the secret stays in the environment) or a plain http(s) URL.

    A literal URL may not carry credentials (user info, a query string): those
    belong in the environment, so the config file never holds a secret.
    """
    text = _nonempty(raw)
    if text.startswith("env:"):
        if not re.fullmatch(r"env:[A-Za-z_][A-Za-z0-9_]*", text):
            raise ValueError("must be env:NAME with NAME an environment variable name")
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL, or env:NAME")
    if parts.username or parts.password or parts.query:
        raise ValueError("a URL with credentials or a query must be env:NAME (a secret)")
    return text


# key -> (field name, converter); the docs test checks every key here is in the example file.
SCHEMA: dict[str, dict[str, tuple[str, Conv]]] = {
    "store": {
        "url": ("url", _store_url),
        "retention": ("retention_days", lambda r: parse_duration(r) / DAY),
        "busy_timeout": ("busy_timeout_s", parse_duration),
        "lock_wait": ("lock_wait_s", parse_duration),
        "spill_file": ("spill_file", _str),
        "rollup_retention": ("rollup_retention_days", lambda r: parse_duration(r) / DAY),
    },
    "backend": {
        "host": ("host", _nonempty),
        "port": ("port", _int(0, 65535)),
        "db": ("db", _nonempty),
        "step_delay_ms": ("step_delay_ms", _num(0, 60_000)),
        "max_connections": ("max_connections", _int(1, 1_000_000)),
        "faults": ("faults", _str_list),
    },
    "dashboard": {
        "host": ("host", _nonempty),
        "port": ("port", _int(1, 65535)),
        "refresh": ("refresh_s", parse_duration),
        "password_hash": ("password_hash", _password_hash),
    },
    "alerts": {
        "min_samples": ("min_samples", _int(1, 1_000_000)),
        "failure_threshold": ("failure_threshold", _int(1, 1000)),
        "success_threshold": ("success_threshold", _int(1, 1000)),
    },
    "notify": {
        "name": ("name", _nonempty),
        "kind": ("kind", _choice("alertmanager", "webhook", "slack")),
        "url": ("url", _notify_url),
        "send_on_resolved": ("send_on_resolved", _bool),
        "repeat_interval": ("repeat_interval_s", parse_duration),
        "max_repeats": ("max_repeats", _int(0, 1_000_000)),
        "min_duration": ("min_duration_s", parse_duration),
    },
    "gate": {"min_coverage": ("min_coverage", _num(0, 100))},
    "probes": {
        "name": ("name", _nonempty),
        "target": ("target", _ws_url),
        "healthz": ("healthz", _healthz),
        "users": ("users", _int(1, 10_000)),
        "every": ("every_s", parse_duration),
        "timeout": ("timeout_s", parse_duration),
        "session_timeout": ("session_timeout_s", parse_duration),
        "auth": ("auth", _choice("header", "subprotocol", "both")),
        "message": ("message", _nonempty),
        "expected_events": ("expected_events", _events),
        "bad_token_check": ("bad_token_check", _bool),
        "db_check": ("db_check", _bool),
        "user_prefix": ("user_prefix", _nonempty),
        "audience": ("audience", _nonempty),
        "token_ttl": ("token_ttl_s", parse_duration),
        "memory_interval": ("memory_interval_s", parse_duration),
    },
    "slo": {
        "name": ("name", _nonempty),
        "sli": ("sli", _choice(*SLIS)),
        "objective": ("objective", _num(0, 100)),
        "window": ("window_s", parse_duration),
        "threshold_ms": ("threshold_ms", _num(0, 86_400_000)),
        "threshold_mb": ("threshold_mb", _num(0, 1_000_000)),
        "operation": ("operation", _choice(*DB_OPERATIONS)),
        "probe": ("probe", _nonempty),
        "count_planned_closes": ("count_planned_closes", _bool),
        "aggregate": ("aggregate", _aggregate),
    },
}
TOP_LEVEL = {"runner": _nonempty}
_SLO_NEEDS = {
    "first_event_latency": "threshold_ms",
    "completion_latency": "threshold_ms",
    "db_latency": "threshold_ms",
    "memory_growth": "threshold_mb",
}


def _convert(path: str, table: Any, section: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: must be a table")
    spec = SCHEMA[section]
    out: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in spec:
            raise ConfigError(f"{path}.{key}: unknown key (known: {', '.join(spec)})")
        name, conv = spec[key]
        try:
            out[name] = conv(raw)
        except ValueError as exc:
            raise ConfigError(f"{path}.{key}: {exc}") from None
    return out


def _probe(path: str, table: Any, default_target: str = DEFAULT_TARGET) -> ProbeSettings:
    """One ``[[probes]]`` table; without a ``target`` it probes the built-in backend."""
    probe = ProbeSettings(**{"target": default_target, **_convert(path, table, "probes")})
    if probe.timeout_s >= probe.every_s:
        raise ConfigError(f"{path}.timeout: must be shorter than every ({probe.every_s:g}s)")
    if probe.session_timeout_s + ROUND_OVERHEAD_S > probe.timeout_s:
        raise ConfigError(
            f"{path}.session_timeout: must be at least {ROUND_OVERHEAD_S:g}s shorter than "
            f"timeout ({probe.timeout_s:g}s), which also covers closing and the last memory sample"
        )
    return probe


def _slo(path: str, table: Any) -> SloSettings:
    values = _convert(path, table, "slo")
    for required in ("name", "sli", "objective"):
        if required not in values:
            raise ConfigError(f"{path}.{required}: required")
    needed = _SLO_NEEDS.get(values["sli"])
    if needed and needed not in values:
        raise ConfigError(f"{path}.{needed}: required for sli {values['sli']}")
    if values["sli"] == "db_latency" and "operation" not in values:
        raise ConfigError(f"{path}.operation: required for sli db_latency")
    return SloSettings(**values)


def _notify(path: str, table: Any) -> NotifySettings:
    values = _convert(path, table, "notify")
    for required in ("name", "kind", "url"):
        if required not in values:
            raise ConfigError(f"{path}.{required}: required")
    if values["kind"] == "slack" and not values["url"].startswith("env:"):
        raise ConfigError(f"{path}.url: a Slack webhook URL is a secret: use env:NAME")
    return NotifySettings(**values)


def _check_retention(store: StoreSettings) -> None:
    if store.rollup_retention_days < store.retention_days:
        raise ConfigError(
            f"store.rollup_retention: must be at least store.retention "
            f"({store.retention_days:g}d): rollups outlive the raw rows they summarise"
        )


def _unique(path: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ConfigError(f"{path}[{i}].name: duplicate name {name!r}")
        seen.add(name)


def _array(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be an array of tables ([[{key}]])")
    return value


def backend_url(backend: BackendSettings) -> str:
    """The built-in backend's WebSocket URL, the default probe's target (``DEFAULT_TARGET``
    when the port is 0, i.e. only known once it listens)."""
    if not backend.port:
        return DEFAULT_TARGET
    host = f"[{backend.host}]" if ":" in backend.host else backend.host
    return f"ws://{host}:{backend.port}/ws"


def parse_settings(text: str) -> Settings:
    """Validate TOML text into ``Settings``; raises ``ConfigError`` naming the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None
    known = set(SCHEMA) | set(TOP_LEVEL)
    for key in doc:
        if key not in known:
            raise ConfigError(f"{key}: unknown key (known: {', '.join(sorted(known))})")
    sections: dict[str, Any] = {}
    for key, cls in (
        ("store", StoreSettings),
        ("backend", BackendSettings),
        ("dashboard", DashboardSettings),
        ("alerts", AlertSettings),
        ("gate", GateSettings),
    ):
        if key in doc:
            sections[key] = cls(**_convert(key, doc[key], key))
    _check_retention(sections.get("store", StoreSettings()))
    if "runner" in doc:
        try:
            sections["runner"] = TOP_LEVEL["runner"](doc["runner"])
        except ValueError as exc:
            raise ConfigError(f"runner: {exc}") from None
    backend = sections.get("backend", BackendSettings())
    probes = [
        _probe(f"probes[{i}]", t, backend_url(backend)) for i, t in enumerate(_array(doc, "probes"))
    ]
    slos = [_slo(f"slo[{i}]", t) for i, t in enumerate(_array(doc, "slo"))]
    notify = [_notify(f"notify[{i}]", t) for i, t in enumerate(_array(doc, "notify"))]
    _unique("notify", [n.name for n in notify])
    _unique("probes", [p.name for p in probes])
    _unique("slo", [s.name for s in slos])
    return Settings(
        **sections,
        probes=tuple(probes) or (ProbeSettings(target=backend_url(backend)),),
        slos=tuple(slos) or default_slos(),
        notify=tuple(notify),
        source=text,
    )


def load_settings(path: Path | None) -> Settings:
    """Read ``path`` (or ``./slawatch.toml`` when present); defaults when there is none."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return parse_settings("")
        path = DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        return replace(parse_settings(text), path=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
