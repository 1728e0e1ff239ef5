"""Who may open the dashboard: loopback freely, elsewhere only behind a login."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dashboard.access import (
    AccessError,
    authlib_installed,
    check_bind,
    is_loopback,
    oidc_configured,
    read_auth_section,
)
from probes.config import DashboardSettings
from probes.passwords import make_password_hash

from .conftest import AppFactory, Seeded

PASSWORD = "correct horse battery staple"
HASH = make_password_hash(PASSWORD, iterations=10_000)  # the format's minimum: a fast test
OIDC = {
    "redirect_uri": "https://dash.example/oauth2callback",
    "cookie_secret": "0123456789abcdef0123456789abcdef",
    "client_id": "slawatch",
    "client_secret": "s3cret",
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        (None, False),
        ("192.168.1.10", False),
        ("dashboard.internal", False),
        ("localhost.evil.example", False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind_allows_loopback_without_any_login() -> None:
    assert check_bind("127.0.0.1", DashboardSettings(), {}) == "loopback"
    assert check_bind("localhost", DashboardSettings(password_hash=HASH), OIDC) == "loopback"


def test_check_bind_allows_any_address_with_a_password_hash() -> None:
    for host in ("0.0.0.0", "", "192.168.1.10"):
        assert check_bind(host, DashboardSettings(password_hash=HASH), {}) == "password"


@pytest.mark.parametrize(
    ("host", "where"),
    [("0.0.0.0", "on 0.0.0.0"), ("", "on every network interface"), (None, "on every network")],
)
def test_check_bind_refuses_other_addresses_without_a_login(host: str | None, where: str) -> None:
    with pytest.raises(AccessError) as caught:
        check_bind(host, DashboardSettings(), {})
    message = str(caught.value)
    assert message.startswith(f"refusing to serve the dashboard {where}")
    assert "[dashboard] password_hash" in message
    assert "slawatch hash-password" in message
    assert "[auth] in .streamlit/secrets.toml" in message
    assert "--host 127.0.0.1" in message


def test_access_error_is_a_value_error_as_the_cli_expects() -> None:
    assert issubclass(AccessError, ValueError)


@pytest.mark.parametrize(
    ("auth", "configured"),
    [
        ({}, False),
        (OIDC, True),
        ({k: v for k, v in OIDC.items() if k != "cookie_secret"}, False),
        ({k: v for k, v in OIDC.items() if k != "client_secret"}, False),
        (
            {
                "redirect_uri": OIDC["redirect_uri"],
                "cookie_secret": OIDC["cookie_secret"],
                "google": {
                    k: OIDC[k] for k in ("client_id", "client_secret", "server_metadata_url")
                },
            },
            True,
        ),
    ],
)
def test_oidc_configured_needs_the_shared_and_one_providers_settings(
    auth: dict[str, Any], configured: bool
) -> None:
    assert oidc_configured(auth) is configured


def test_oidc_counts_only_when_authlib_can_run_it() -> None:
    if authlib_installed():
        assert check_bind("0.0.0.0", DashboardSettings(), OIDC) == "oidc"
        return
    with pytest.raises(AccessError, match=r"Authlib package it needs is not installed"):
        check_bind("0.0.0.0", DashboardSettings(), OIDC)


def test_read_auth_section_merges_files_later_ones_winning(tmp_path: Path) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text('[auth]\nredirect_uri = "x"\ncookie_secret = "one"\n')
    second.write_text('[auth]\ncookie_secret = "two"\n')
    merged = read_auth_section([first, tmp_path / "missing.toml", second])
    assert merged == {"redirect_uri": "x", "cookie_secret": "two"}


def test_read_auth_section_names_a_broken_secrets_file(tmp_path: Path) -> None:
    broken = tmp_path / "secrets.toml"
    broken.write_text("[auth\n")
    with pytest.raises(AccessError, match=r"cannot read Streamlit secrets .*secrets\.toml"):
        read_auth_section([broken])


# --- the same rule inside the app, for a dashboard started with plain `streamlit run` ----


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slawatch.toml"
    path.write_text(text)
    return path


def test_app_refuses_a_public_address_without_login(
    app: AppFactory, seeded: Seeded, bind_address: Any
) -> None:
    bind_address("0.0.0.0")
    at = app(seeded.faulty).run()
    assert not at.exception
    assert "refuses to serve this address" in at.error[0].value
    assert [t.value for t in at.title] == ["slawatch"], "no page was drawn"
    assert not at.dataframe


def test_app_refuses_when_started_on_every_interface(
    app: AppFactory, seeded: Seeded, bind_address: Any
) -> None:
    bind_address(None)  # plain `streamlit run` without --server.address listens everywhere
    at = app(seeded.faulty).run()
    assert "every network interface" in at.error[0].value


def test_app_asks_for_the_password_before_any_page(
    app: AppFactory, seeded: Seeded, bind_address: Any, tmp_path: Path
) -> None:
    bind_address("0.0.0.0")
    config = config_file(tmp_path, f'[dashboard]\npassword_hash = "{HASH}"\n')
    at = app(seeded.faulty, config=config).run()
    assert [s.value for s in at.subheader] == ["Sign in"]
    at = at.switch_page("pages/stability.py").run()
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert not at.dataframe and not at.get("plotly_chart")


def test_a_page_run_without_app_py_still_asks_for_the_password(
    app: AppFactory, seeded: Seeded, bind_address: Any, tmp_path: Path
) -> None:
    """A fresh server runs a ``pages/`` file directly when it is the first page asked for."""
    bind_address("0.0.0.0")
    config = config_file(tmp_path, f'[dashboard]\npassword_hash = "{HASH}"\n')
    at = app(seeded.faulty, "pages/stability.py", config=config).run()  # AppTest: page only
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert not at.dataframe and not at.get("plotly_chart")

    at.text_input[0].input("wrong password")
    at = at.button[0].click().run()
    assert "Wrong password." in [e.value for e in at.error]
    assert not at.dataframe

    at.text_input[0].input(PASSWORD)
    at = at.button[0].click().run()
    assert not at.exception
    assert "Stability" in [t.value for t in at.title]
    assert at.dataframe


def test_app_with_oidc_secrets_but_no_authlib_refuses(
    app: AppFactory, seeded: Seeded, bind_address: Any
) -> None:
    if authlib_installed():
        pytest.skip("Authlib is installed: OIDC would be usable")
    bind_address("0.0.0.0")
    at = app(seeded.faulty)
    at.secrets["auth"] = OIDC
    at = at.run()
    assert "Authlib" in at.error[0].value


def test_app_shows_a_bad_config_as_a_message_not_a_traceback(
    app: AppFactory, seeded: Seeded, tmp_path: Path
) -> None:
    config = config_file(tmp_path, '[dashboard]\nrefresh = "soon"\n')
    at = app(seeded.faulty, config=config).run()
    assert not at.exception
    assert "a setting is wrong" in at.error[0].value
    assert "dashboard.refresh" in at.error[0].value.replace("\\", "")


def test_slawatch_dashboard_refuses_a_public_host_without_login(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "slawatch"
    env = dict(os.environ, HOME=str(tmp_path))  # no ~/.streamlit/secrets.toml of the machine's
    done = subprocess.run(
        [str(exe), "dashboard", "--host", "0.0.0.0", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(
        "slawatch: refusing to serve the dashboard on 0.0.0.0 without a login"
    )
    assert not (tmp_path / "x.db").exists()
