"""A profile back as TOML text, in the file format ``registry.load_file`` reads.

``slawatch profiles show`` prints built-ins as shipped (with their comments);
a profile from the config or another file is rendered from the model, every
key written out, so what is printed is exactly what the probe runs.
"""

from __future__ import annotations

from typing import Any

import tomli_w

from probes.profiles.model import Profile
from probes.profiles.registry import BUILTIN_NAMES, builtin, builtin_text


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def as_table(p: Profile) -> dict[str, Any]:
    """The profile as the TOML table its file would hold (PROFILES.md's key names)."""
    a, m, c = p.auth, p.milestones, p.completion
    milestones: dict[str, Any] = {
        "start": list(m.start), "first": list(m.first), "tool_start": list(m.tool_start),
        "tool_end": list(m.tool_end), "done": list(m.done), "error": list(m.error),
        "error_fatal": m.error_fatal, "error_if_present": list(m.error_if_present),
        "tool_path": m.tool_path, "db_ms_path": m.db_ms_path,
    }  # fmt: skip
    if m.done_ok_path:
        milestones["done_ok"] = {"path": m.done_ok_path, "in": list(m.done_ok_in)}
    completion: dict[str, Any] = {
        "order": c.order, "required": list(c.required), "min_counts": dict(c.min_counts),
        "seq_path": c.seq_path, "seq_required": c.seq_required,
    }  # fmt: skip
    if c.seq_start is not None:
        completion["seq_start"] = c.seq_start
    interval = p.heartbeat.ws_ping_interval_s
    return {
        "name": p.name,
        "frame": p.frame,
        "connect": {
            "query": dict(p.connect.query), "headers": dict(p.connect.headers),
            "subprotocols": list(p.connect.subprotocols),
            "expect_subprotocol": p.connect.expect_subprotocol,
        },
        "auth": {
            "mode": list(a.modes) if len(a.modes) > 1 else a.modes[0], "token": a.token,
            "header": a.header, "header_value": a.header_value, "subprotocol": a.subprotocol,
            "query_param": a.query_param, "message": a.message,
            "refused_http": list(a.refused_http), "refused_close": list(a.refused_close),
            "refused_events": list(a.refused_events),
        },
        "handshake": [
            {"send": s.send, "expect": list(s.expect), "fail": list(s.fail),
             "timeout": _duration(s.timeout_s)}
            for s in p.handshake
        ],
        "chat": {
            "send": list(p.chat.send), "correlate_path": p.chat.correlate_path,
            "run_id_paths": list(p.chat.run_id_paths),
        },
        "events": {
            "type_path": p.events.type_path, "type_from_keys": list(p.events.type_from_keys),
            "ignore": list(p.events.ignore), "ts_path": p.events.ts_path,
        },
        "milestones": milestones,
        "completion": completion,
        "isolation": {
            "user_path": p.isolation.user_path,
            "constant_paths": list(p.isolation.constant_paths), "canary": p.isolation.canary,
        },
        "heartbeat": {
            "ws_ping_interval": "off" if interval is None else _duration(interval),
            "reply": [{"when_type": r.when_type, "send": r.send} for r in p.heartbeat.reply],
        },
        "close": {"normal": list(p.close.normal)},
    }  # fmt: skip


def to_toml(profile: Profile) -> str:
    """``profile`` as a profile file; a built-in as shipped."""
    if profile.name in BUILTIN_NAMES and profile == builtin(profile.name):
        return builtin_text(profile.name)
    table = as_table(profile)
    if not table["handshake"]:
        del table["handshake"]
    return tomli_w.dumps(table, multiline_strings=False)
