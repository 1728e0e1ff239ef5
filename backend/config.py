"""The backend's settings: one frozen, validated record built by `__main__` or a test."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from backend.auth import check_settings
from backend.faults import Faults

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_DB = Path("data/backend.db")
GOING_AWAY = 1001
SERVICE_RESTART = 1012


class SettingError(ValueError):
    """A setting out of range; the message names it.

    JWT settings raise `backend.auth.ConfigError` (also a ValueError).
    """


@dataclass(frozen=True)
class BackendConfig:
    """Everything one backend server needs; secrets are passed in, never defaulted.

    `jwt_key` is the HS256 secret or, for RS256/ES256, the PEM public key.
    `admin_token` None turns the /admin endpoints off (they answer 404).
    """

    jwt_key: str
    jwt_alg: str = "HS256"
    jwt_leeway_s: float = 10.0
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db_path: Path = DEFAULT_DB
    admin_token: str | None = None
    faults: Faults = field(default_factory=Faults)
    fault_seed: int | None = None
    max_connections: int = 1000
    max_message_bytes: int = 65536
    step_delay_ms: float = 20.0
    stop_close_code: int = GOING_AWAY
    bad_request_limit: int = 10
    max_inflight: int = 8
    request_rate: float = 20.0  # per user, per second (backend.limits)
    request_burst: float = 40.0
    reply_kib_rate: float = 256.0  # reply KiB per user, per second
    reply_kib_burst: float = 1024.0
    send_buffer_bytes: int = 1 << 20
    send_timeout_s: float = 10.0
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    close_timeout_s: float = 5.0
    handshake_timeout_s: float = 5.0
    db_workers: int = 8

    def __post_init__(self) -> None:
        _at_least(
            self,
            1,
            "max_connections",
            "max_message_bytes",
            "bad_request_limit",
            "max_inflight",
            "send_buffer_bytes",
            "db_workers",
            "request_burst",
        )
        _positive(self, "request_rate", "reply_kib_rate", "reply_kib_burst")
        _at_least(self, 0, "port", "step_delay_ms")
        _positive(self, "send_timeout_s", "close_timeout_s", "handshake_timeout_s")
        if self.port > 65535:
            raise SettingError("port: must be 0..65535")
        if self.stop_close_code not in (GOING_AWAY, SERVICE_RESTART):
            raise SettingError("stop_close_code: must be 1001 or 1012")
        if self.admin_token is not None and not self.admin_token:
            raise SettingError("admin_token: must not be empty")
        check_settings(self.jwt_key, self.jwt_alg, self.jwt_leeway_s)


def _at_least(config: BackendConfig, minimum: float, *names: str) -> None:
    for name in names:
        if getattr(config, name) < minimum:
            raise SettingError(f"{name}: must be at least {minimum:g}")


def _positive(config: BackendConfig, *names: str) -> None:
    for name in names:
        if not getattr(config, name) > 0:
            raise SettingError(f"{name}: must be greater than 0")


SETTING_NAMES = tuple(f.name for f in fields(BackendConfig))
