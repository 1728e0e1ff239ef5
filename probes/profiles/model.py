"""The typed profile model: how the probe talks to one WebSocket dialect (PROFILES.md).

Frozen, hashable values built only by ``probes.profiles.parse``; every field
has the default PROFILES.md gives, so a profile file states only what differs.
The session engine (``probes.target.session``) and the pure stream judge
(``probes.judging.stream``) read these and nothing else about a dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from probes.records import AuthMode

AUTH_MODES: tuple[str, ...] = get_args(AuthMode)
Frame = Literal["json", "socketio"]
Order = Literal["ordered", "unordered", "at_least"]


@dataclass(frozen=True, slots=True)
class Connect:
    """What every connection of the profile adds to the upgrade request."""

    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    expect_subprotocol: str = ""


@dataclass(frozen=True, slots=True)
class Auth:
    """How a credential is presented, and how a refusal of it shows."""

    modes: tuple[AuthMode, ...] = ("header",)  # alternate per user index
    token: str = "jwt"  # "jwt" or "env:NAME"
    header: str = "Authorization"
    header_value: str = "Bearer {token}"
    subprotocol: str = "bearer.{token}"
    query_param: str = "access_token"
    message: str = ""
    refused_http: tuple[int, ...] = (401, 403)
    refused_close: tuple[int, ...] = ()
    refused_events: tuple[str, ...] = ()

    @property
    def env_name(self) -> str | None:
        """The environment variable of a static secret, None for minted JWTs."""
        return self.token.removeprefix("env:") if self.token.startswith("env:") else None

    def mode_for(self, index: int) -> AuthMode:
        return self.modes[index % len(self.modes)]


@dataclass(frozen=True, slots=True)
class Step:
    """One handshake step: optionally send a frame, then wait for one of ``expect``."""

    send: str = ""
    expect: tuple[str, ...] = ()
    fail: tuple[str, ...] = ()
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Chat:
    send: tuple[str, ...] = ()
    correlate_path: str = ""
    run_id_paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Events:
    type_path: str = "type"
    type_from_keys: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    ts_path: str = ""  # may (slawatch): the server's send time, Unix epoch ms


@dataclass(frozen=True, slots=True)
class Milestones:
    start: tuple[str, ...] = ()
    first: tuple[str, ...] = ()
    tool_start: tuple[str, ...] = ()
    tool_end: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    done_ok_path: str = ""
    done_ok_in: tuple[Any, ...] = ()
    error: tuple[str, ...] = ()
    error_fatal: bool = True
    error_if_present: tuple[str, ...] = ()
    tool_path: str = ""  # may (slawatch): tool_start/tool_end pair by this field's value
    db_ms_path: str = ""  # may (slawatch): server DB timings on the done event


@dataclass(frozen=True, slots=True)
class Completion:
    order: Order = "ordered"
    required: tuple[str, ...] = ()
    min_counts: tuple[tuple[str, int], ...] = ()
    seq_path: str = ""
    seq_start: int | None = None  # may (slawatch): numbers below the first seen count as gaps
    seq_required: bool = False  # may (slawatch): every event of the run must carry seq


@dataclass(frozen=True, slots=True)
class Isolation:
    user_path: str = ""
    constant_paths: tuple[str, ...] = ()
    canary: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    when_type: str
    send: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    ws_ping_interval_s: float | None = None
    reply: tuple[Reply, ...] = ()


@dataclass(frozen=True, slots=True)
class Close:
    normal: tuple[int, ...] = (1000,)


@dataclass(frozen=True, slots=True)
class Profile:
    """One dialect, as data. ``origin`` says where it came from (built-in, a file, the config)."""

    name: str
    frame: Frame = "json"
    connect: Connect = field(default_factory=Connect)
    auth: Auth = field(default_factory=Auth)
    handshake: tuple[Step, ...] = ()
    chat: Chat = field(default_factory=Chat)
    events: Events = field(default_factory=Events)
    milestones: Milestones = field(default_factory=Milestones)
    completion: Completion = field(default_factory=Completion)
    isolation: Isolation = field(default_factory=Isolation)
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    close: Close = field(default_factory=Close)
    origin: str = field(default="", compare=False)
