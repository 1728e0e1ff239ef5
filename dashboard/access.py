"""Who may open the dashboard: loopback only, unless a login is configured.

Bound to a loopback address the dashboard is as private as the machine. Bound
anywhere else it must ask for a login: the password whose hash is
``[dashboard] password_hash``, or Streamlit's OIDC login (``[auth]`` in
``.streamlit/secrets.toml``). Without either, ``check_bind`` refuses, and
both ``slawatch dashboard`` and ``dashboard/app.py`` call it. No Streamlit
import here, so the CLI can check before it starts the server.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from probes.config import DashboardSettings

# The settings st.login needs in [auth] whatever the provider (Streamlit's docs).
OIDC_SHARED_KEYS = ("redirect_uri", "cookie_secret")
OIDC_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


# What keeps strangers out of a dashboard that check_bind lets start.
Guard = Literal["loopback", "password", "oidc"]


class AccessError(ValueError):
    """The dashboard would be reachable beyond this machine without a login."""


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``).

    An empty host means every interface, which is not loopback. Other names
    are not resolved: what a name points to can change after the check.
    """
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def secrets_files(app_dir: Path | None = None) -> list[Path]:
    """Where Streamlit looks for ``secrets.toml`` when it serves ``dashboard/app.py``."""
    app_dir = app_dir or Path(__file__).parent
    return [
        Path.home() / ".streamlit" / "secrets.toml",
        Path.cwd() / ".streamlit" / "secrets.toml",
        app_dir / ".streamlit" / "secrets.toml",
    ]


def read_auth_section(paths: Iterable[Path]) -> dict[str, Any]:
    """The ``[auth]`` table merged from ``paths`` (later files win), {} when none has one."""
    merged: dict[str, Any] = {}
    for path in paths:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise AccessError(f"cannot read Streamlit secrets {path}: {exc}") from None
        section = doc.get("auth")
        if isinstance(section, Mapping):
            merged.update(section)
    return merged


def oidc_configured(auth: Mapping[str, Any]) -> bool:
    """True when ``auth`` (the ``[auth]`` secrets table) is enough for ``st.login``.

    It needs ``redirect_uri`` and ``cookie_secret``, and the provider's
    ``client_id``, ``client_secret`` and ``server_metadata_url`` either in
    ``[auth]`` itself or in one ``[auth.NAME]`` provider table.
    """
    if not all(auth.get(key) for key in OIDC_SHARED_KEYS):
        return False
    tables = [auth, *(v for v in auth.values() if isinstance(v, Mapping))]
    return any(all(t.get(key) for key in OIDC_PROVIDER_KEYS) for t in tables)


def authlib_installed() -> bool:
    """``st.login`` needs the Authlib package."""
    return importlib.util.find_spec("authlib") is not None


def check_bind(
    host: str | None, settings: DashboardSettings, auth: Mapping[str, Any] | None = None
) -> Guard:
    """What keeps strangers out when serving on ``host``; ``AccessError`` when nothing would.

    ``auth`` is the ``[auth]`` secrets table; None reads it from the files
    Streamlit reads (``secrets_files``).
    """
    if is_loopback(host):
        return "loopback"
    if settings.password_hash:
        return "password"
    where = f"on {host}" if host else "on every network interface"
    if auth is None:
        auth = read_auth_section(secrets_files())
    if oidc_configured(auth):
        if authlib_installed():
            return "oidc"
        raise AccessError(
            f"refusing to serve the dashboard {where}: Streamlit OIDC login is configured "
            "([auth] in .streamlit/secrets.toml) but the Authlib package it needs is not "
            "installed (pip install 'Authlib>=1.3.2'); or set [dashboard] password_hash"
        )
    raise AccessError(
        f"refusing to serve the dashboard {where} without a login: beyond 127.0.0.1 it needs "
        "[dashboard] password_hash in the config (make one with `slawatch hash-password`) or "
        "Streamlit OIDC login ([auth] in .streamlit/secrets.toml); or bind to 127.0.0.1 "
        "(--host 127.0.0.1)"
    )
