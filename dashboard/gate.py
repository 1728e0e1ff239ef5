"""The checks every page passes before it draws anything: settings, bind address, login.

``app.py`` runs them before ``st.navigation``, and every page runs them again
through ``ui.context()`` (cheap once signed in): Streamlit runs a file under
``pages/`` directly, without ``app.py``, when that file is the first thing a
fresh server is asked for (its old pages-directory mode), and that must not
skip the login.

The settings come from the words after ``--`` on Streamlit's command line
(``sys.argv[1:]``: ``--db URL [--config PATH]``), read once per process.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NoReturn

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from dashboard.access import AccessError, authlib_installed, check_bind, oidc_configured
from dashboard.context import Context, load_context
from dashboard.format import md_escape
from probes.errors import ConfigError
from probes.passwords import verify_password

LOGGED_IN = "slawatch_logged_in"


@st.cache_resource(show_spinner=False)
def _context(argv: tuple[str, ...]) -> Context:
    return load_context(argv)


def auth_secrets() -> Mapping[str, Any]:
    """The ``[auth]`` table of Streamlit's secrets, {} when there is none."""
    try:
        section = st.secrets.get("auth")
    except StreamlitSecretNotFoundError:
        return {}
    return section if isinstance(section, Mapping) else {}


def refuse(title: str, message: str) -> NoReturn:
    st.title("slawatch")
    st.error(f"**{title}**  \n{md_escape(message)}")
    st.stop()


def require_login(ctx: Context, auth: Mapping[str, Any]) -> None:
    """Ask for the password or the OIDC login when either is configured; stop until then."""
    password_hash = ctx.settings.dashboard.password_hash
    oidc = oidc_configured(auth) and authlib_installed()
    if not password_hash and not oidc:
        return
    if st.session_state.get(LOGGED_IN) or (oidc and st.user.is_logged_in):
        return
    st.title("slawatch")
    st.subheader("Sign in")
    if oidc:
        st.button("Sign in with single sign-on", on_click=st.login, icon=":material/login:")
    if password_hash:
        with st.form("login"):
            password = st.text_input("Dashboard password", type="password")
            if st.form_submit_button("Sign in"):
                if verify_password(password, password_hash):
                    st.session_state[LOGGED_IN] = True
                    st.rerun()
                st.error("Wrong password.")
    st.stop()


def logout_button(ctx: Context, auth: Mapping[str, Any]) -> None:
    """A sidebar "Log out" when a login is in force."""
    oidc = oidc_configured(auth) and authlib_installed()
    if not ctx.settings.dashboard.password_hash and not oidc:
        return
    with st.sidebar:
        if st.button("Log out", icon=":material/logout:"):
            st.session_state.pop(LOGGED_IN, None)
            if oidc and st.user.is_logged_in:
                st.logout()
            st.rerun()


def require_access() -> Context:
    """The settings, once this address may be served and the visitor has signed in."""
    st.set_page_config(page_title="slawatch", page_icon=":material/monitor_heart:", layout="wide")
    try:
        ctx = _context(tuple(sys.argv[1:]))
    except ConfigError as exc:
        refuse("The dashboard cannot start: a setting is wrong.", str(exc))
    auth = auth_secrets()
    try:
        check_bind(st.get_option("server.address"), ctx.settings.dashboard, auth)
    except AccessError as exc:
        refuse("The dashboard refuses to serve this address.", str(exc))
    require_login(ctx, auth)
    return ctx
