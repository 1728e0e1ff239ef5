"""The dashboard's entry point: ``slawatch dashboard`` runs it with Streamlit.

The store and the config reach the app as the words after ``--`` on
Streamlit's command line, exactly as the CLI passes them::

    streamlit run dashboard/app.py --server.address 127.0.0.1 -- --db URL [--config PATH]

Nothing is drawn before ``gate.require_access`` has read the settings,
checked the bind address (the rule ``slawatch dashboard`` applies, repeated
for a dashboard started by hand with ``streamlit run``) and, when a password
or OIDC login is configured, signed the visitor in.
"""

from __future__ import annotations

import streamlit as st

from dashboard import gate, heap

PAGES = [
    st.Page("pages/live.py", title="Live", icon=":material/monitor_heart:", default=True),
    st.Page("pages/stability.py", title="Stability", icon=":material/insights:"),
    st.Page("pages/reports.py", title="Reports", icon=":material/description:"),
    st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
]

heap.tune_heap()  # once per process: glibc's heap thresholds (dashboard/heap.py)
ctx = gate.require_access()
gate.logout_button(ctx, gate.auth_secrets())
st.navigation(PAGES).run()
