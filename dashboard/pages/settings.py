"""Settings: the objectives and probes in force, read-only (change the config file)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import gate, ui
from dashboard.access import oidc_configured
from dashboard.context import Context
from dashboard.format import duration, md_code
from probes.judging.slo import MULTIWINDOW_RULES


def objectives(ctx: Context) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "name": o.name,
                "sli": o.sli,
                "objective": f"{o.objective:g} %",
                "window": duration(o.window_s),
                "threshold": (
                    f"{o.threshold_ms:g} ms"
                    if o.threshold_ms is not None
                    else f"{o.threshold_mb:g} MB"
                    if o.threshold_mb is not None
                    else ""
                ),
                "operation": o.operation or "",
                "probe": o.probe or "all probes",
            }
            for o in ctx.settings.slos
        ]
    )


def probes(ctx: Context) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "name": p.name,
                "target": p.target,
                "users": p.users,
                "every": duration(p.every_s),
                "round timeout": duration(p.timeout_s),
                "session timeout": duration(p.session_timeout_s),
                "auth": p.auth,
                "expected events": ", ".join(p.expected_events),
                "bad-token check": p.bad_token_check,
                "db check": p.db_check,
                "memory from": p.healthz_url or "off",
                "user prefix": p.user_prefix,
            }
            for p in ctx.settings.probes
        ]
    )


def alert_rules() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "severity": r.severity,
                "burn rate at least": f"{r.factor:g}x",
                "long window": duration(r.long_window_s),
                "short window": duration(r.short_window_s),
            }
            for r in MULTIWINDOW_RULES
        ]
    )


def served_on() -> str:
    """The address and port this process listens on (``--host``/``--port`` win over config)."""
    host = st.get_option("server.address") or "every interface"
    return f"{host}:{st.get_option('server.port')}"


def login_rule(ctx: Context) -> str:
    """Which login guards this dashboard, in words."""
    ways = []
    if ctx.settings.dashboard.password_hash:
        ways.append("password ([dashboard] password_hash)")
    if oidc_configured(gate.auth_secrets()):
        ways.append("single sign-on (Streamlit OIDC, [auth] in secrets.toml)")
    return " or ".join(ways) or "none: it may only be served on a loopback address"


def main() -> None:
    ctx = ui.context()
    s = ctx.settings
    st.title("Settings")
    st.caption(
        "What this dashboard process was started with. Read-only: change the config file "
        "and restart `slawatch` to change them."
    )
    st.markdown(
        f"**Config in force:** {md_code(s.origin)} · SHA-256 of {s.digest_basis} "
        f"`{s.digest[:16]}…`  \n"
        f"**Results store:** {md_code(ctx.safe_url)} · raw data kept "
        f"{duration(s.store.retention_days * 86400)}, rollups "
        f"{duration(s.store.rollup_retention_days * 86400)}  \n"
        f"**Runner label:** {md_code(s.runner)}"
    )
    st.subheader("Objectives")
    table(objectives(ctx))
    st.subheader("Burn-rate alerts")
    st.caption(
        f"An alert fires when both windows burn the error budget at least this fast; each "
        f"window needs at least {s.alerts.min_samples} valid events. A PASS needs every "
        f"objective met and at least {s.gate.min_coverage:g} % of the scheduled rounds with data."
    )
    table(alert_rules())
    st.subheader("Probes")
    table(probes(ctx))
    st.subheader("Dashboard")
    d = s.dashboard
    table(
        pd.DataFrame(
            [
                {"setting": "served on", "value": served_on()},
                {"setting": "configured address", "value": f"{d.host}:{d.port}"},
                {"setting": "live refresh", "value": f"{d.refresh_s:g} s"},
                {"setting": "login", "value": login_rule(ctx)},
            ]
        )
    )


def table(frame: pd.DataFrame) -> None:
    st.dataframe(frame, hide_index=True, height=ui.table_height(frame))


main()
