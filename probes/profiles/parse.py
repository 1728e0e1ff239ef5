"""One profile table (a ``[[profiles]]`` entry or a profile file) -> a validated ``Profile``.

Every error is a ``ConfigError`` that names the profile, the key and what is
wrong (``profile 'x': milestones.done: required``); unknown keys are
rejected so a typo never passes silently. Templates are checked by filling
them with sample values: a ``json`` profile's frames must then be JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from probes.errors import ConfigError
from probes.profiles.model import (
    AUTH_MODES,
    Auth,
    Chat,
    Close,
    Completion,
    Connect,
    Events,
    Heartbeat,
    Isolation,
    Milestones,
    Profile,
    Reply,
    Step,
)
from probes.profiles.paths import check_path
from probes.profiles.templates import PLACEHOLDERS, fill, names_in
from probes.values import Conv, parse_duration
from probes.values import as_bool as _bool
from probes.values import as_choice as _choice
from probes.values import as_nonempty as _name
from probes.values import as_str as _str
from probes.values import as_str_list as _strs

SAMPLE = {name: "sample" for name in PLACEHOLDERS} | {"message_json": '"sample"', "now_ms": "0"}


def _path(raw: Any) -> str:
    return "" if raw == "" else check_path(_str(raw))


def _paths(raw: Any) -> tuple[str, ...]:
    return tuple(check_path(p) for p in _strs(raw))


def _ints(low: int, high: int) -> Conv:
    def conv(raw: Any) -> tuple[int, ...]:
        if not isinstance(raw, list) or not all(type(x) is int and low <= x <= high for x in raw):
            raise ValueError(f"must be a list of integers from {low} to {high}")
        return tuple(raw)

    return conv


def _str_table(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError("must be a table of strings")
    return tuple((str(k), v) for k, v in raw.items())


def _modes(raw: Any) -> tuple[str, ...]:
    modes = [raw] if isinstance(raw, str) else raw
    if not isinstance(modes, list) or not modes or any(m not in AUTH_MODES for m in modes):
        raise ValueError(f"must be one of {', '.join(AUTH_MODES)}, or a non-empty list of them")
    return tuple(modes)


def _token(raw: Any) -> str:
    text = _str(raw)
    if text == "jwt" or (text.startswith("env:") and text[4:].strip()):
        return text
    raise ValueError(f'must be "jwt" or "env:NAME", got {text!r}')


def _interval(raw: Any) -> float | None:
    return None if raw == "off" else parse_duration(raw)


def _counts(raw: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, Mapping) or not all(type(v) is int and v >= 1 for v in raw.values()):
        raise ValueError("must be a table of event type = count (at least 1)")
    return tuple((str(k), v) for k, v in raw.items())


def _int(raw: Any) -> int:
    if type(raw) is not int:
        raise ValueError(f"must be an integer, got {raw!r}")
    return raw


_TYPES = _strs
# section -> (model class, key -> (field, converter)); [profiles.handshake] and the
# inline tables (done_ok, heartbeat.reply) are read by their own functions below.
SECTIONS: dict[str, tuple[type, dict[str, tuple[str, Conv]]]] = {
    "connect": (Connect, {
        "query": ("query", _str_table),
        "headers": ("headers", _str_table),
        "subprotocols": ("subprotocols", _strs),
        "expect_subprotocol": ("expect_subprotocol", _str),
    }),
    "auth": (Auth, {
        "mode": ("modes", _modes),
        "token": ("token", _token),
        "header": ("header", _name),
        "header_value": ("header_value", _str),
        "subprotocol": ("subprotocol", _name),
        "query_param": ("query_param", _name),
        "message": ("message", _str),
        "refused_http": ("refused_http", _ints(100, 599)),
        "refused_close": ("refused_close", _ints(1000, 4999)),
        "refused_events": ("refused_events", _TYPES),
    }),
    "chat": (Chat, {
        "send": ("send", lambda r: _strs([r] if isinstance(r, str) else r)),
        "correlate_path": ("correlate_path", _path),
        "run_id_paths": ("run_id_paths", _paths),
    }),
    "events": (Events, {
        "type_path": ("type_path", _path),
        "type_from_keys": ("type_from_keys", _strs),
        "ignore": ("ignore", _TYPES),
        "ts_path": ("ts_path", _path),
    }),
    "milestones": (Milestones, {
        "start": ("start", _TYPES),
        "first": ("first", _TYPES),
        "tool_start": ("tool_start", _TYPES),
        "tool_end": ("tool_end", _TYPES),
        "done": ("done", _TYPES),
        "error": ("error", _TYPES),
        "error_fatal": ("error_fatal", _bool),
        "error_if_present": ("error_if_present", _paths),
        "tool_path": ("tool_path", _path),
        "db_ms_path": ("db_ms_path", _path),
    }),
    "completion": (Completion, {
        "order": ("order", _choice("ordered", "unordered", "at_least")),
        "required": ("required", _TYPES),
        "min_counts": ("min_counts", _counts),
        "seq_path": ("seq_path", _path),
        "seq_start": ("seq_start", _int),
        "seq_required": ("seq_required", _bool),
    }),
    "isolation": (Isolation, {
        "user_path": ("user_path", _path),
        "constant_paths": ("constant_paths", _paths),
        "canary": ("canary", _bool),
    }),
    "heartbeat": (Heartbeat, {"ws_ping_interval": ("ws_ping_interval_s", _interval)}),
    "close": (Close, {"normal": ("normal", _ints(1000, 4999))}),
}  # fmt: skip
TOP = ("name", "frame", "handshake", *SECTIONS)
STEP_KEYS = {
    "send": ("send", _str),
    "expect": ("expect", _TYPES),
    "fail": ("fail", _TYPES),
    "timeout": ("timeout_s", parse_duration),
}


def _table(key: str, raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: must be a table")
    return raw


def _convert(key: str, raw: Any, spec: Mapping[str, tuple[str, Conv]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in _table(key, raw).items():
        if name not in spec:
            raise ConfigError(f"{key}.{name}: unknown key (known: {', '.join(spec)})")
        attr, conv = spec[name]
        try:
            out[attr] = conv(value)
        except ValueError as exc:
            raise ConfigError(f"{key}.{name}: {exc}") from None
    return out


def _done_ok(raw: Any) -> dict[str, Any]:
    """``{ path, in }``; an empty path or list (the schema's defaults) means no check."""
    table = _table("milestones.done_ok", raw)
    unknown = set(table) - {"path", "in"}
    if unknown:
        raise ConfigError(f"milestones.done_ok.{min(unknown)}: unknown key (known: path, in)")
    path, values = table.get("path", ""), table.get("in", [])
    if not isinstance(values, list):
        raise ConfigError("milestones.done_ok.in: must be a list of values")
    try:
        path = _path(path)
    except ValueError as exc:
        raise ConfigError(f"milestones.done_ok.path: {exc}") from None
    if bool(path) != bool(values):
        missing = "in" if path else "path"
        raise ConfigError(
            f"milestones.done_ok.{missing}: required with done_ok.{'path' if path else 'in'}"
        )
    return {"done_ok_path": path, "done_ok_in": tuple(values)}


def _replies(raw: Any) -> tuple[Reply, ...]:
    if not isinstance(raw, list):
        raise ConfigError("heartbeat.reply: must be a list of { when_type, send } tables")
    spec = {"when_type": ("when_type", _name), "send": ("send", _name)}
    replies = []
    for i, item in enumerate(raw):
        values = _convert(f"heartbeat.reply[{i}]", item, spec)
        for required in spec:
            if required not in values:
                raise ConfigError(f"heartbeat.reply[{i}].{required}: required")
        replies.append(Reply(**values))
    return tuple(replies)


def _steps(raw: Any) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise ConfigError("handshake: must be an array of tables ([[profiles.handshake]])")
    steps = []
    for i, item in enumerate(raw):
        values = _convert(f"handshake[{i}]", item, STEP_KEYS)
        if not values.get("expect"):
            raise ConfigError(f"handshake[{i}].expect: required (the event types ending the step)")
        steps.append(Step(**values))
    return tuple(steps)


def _section(name: str, raw: Any) -> Any:
    cls, spec = SECTIONS[name]
    table = dict(_table(name, raw))
    extra: dict[str, Any] = {}
    if name == "milestones" and "done_ok" in table:
        extra = _done_ok(table.pop("done_ok"))
    if name == "heartbeat" and "reply" in table:
        extra = {"reply": _replies(table.pop("reply"))}
    return cls(**_convert(name, table, spec), **extra)


def _template(key: str, template: str, frame: str, *, echo: bool = False) -> None:
    if not echo and "echo" in names_in(template):
        raise ConfigError(f"{key}: {{echo:PATH}} is only for heartbeat replies")
    filled = fill(template, SAMPLE, {})
    if frame == "json":
        try:
            json.loads(filled)
        except ValueError as exc:
            raise ConfigError(f"{key}: not JSON once filled ({exc})") from None
    elif not filled[:1].isdigit():
        raise ConfigError(f"{key}: a socketio frame is a whole packet, e.g. 42[...]")


def _check(p: Profile) -> None:
    """The rules that span keys."""
    if not p.milestones.done:
        raise ConfigError("milestones.done: required (the event types that end a run)")
    if not p.chat.send:
        raise ConfigError("chat.send: required (the frames that start a run)")
    if "message" in p.auth.modes and not p.auth.message:
        raise ConfigError('auth.message: required when auth.mode includes "message"')
    if p.completion.order == "at_least" and not p.completion.min_counts:
        raise ConfigError('completion.min_counts: required when order = "at_least"')
    if p.isolation.canary and not any("nonce" in names_in(t) for t in p.chat.send):
        raise ConfigError("isolation.canary: chat.send must carry {nonce}")
    for i, text in enumerate(p.chat.send):
        _template(f"chat.send[{i}]", text, p.frame)
    for i, step in enumerate(p.handshake):
        if step.send:
            _template(f"handshake[{i}].send", step.send, p.frame)
    if p.auth.message:
        _template("auth.message", p.auth.message, p.frame)
    for i, reply in enumerate(p.heartbeat.reply):
        _template(f"heartbeat.reply[{i}].send", reply.send, p.frame, echo=True)


def parse_profile(table: Mapping[str, Any], *, origin: str) -> Profile:
    """Validate one profile table; ``ConfigError`` names the profile, the key and the problem."""
    name = table.get("name")
    label = f"profile {name!r}" if isinstance(name, str) and name else f"profile in {origin}"
    try:
        for key in table:
            if key not in TOP:
                raise ConfigError(f"{key}: unknown key (known: {', '.join(TOP)})")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("name: required, a non-empty string")
        frame = table.get("frame", "json")
        if frame not in ("json", "socketio"):
            raise ConfigError(f"frame: must be one of json, socketio, got {frame!r}")
        parts = {key: _section(key, table[key]) for key in SECTIONS if key in table}
        steps = _steps(table["handshake"]) if "handshake" in table else ()
        profile = Profile(name=name, frame=frame, handshake=steps, origin=origin, **parts)
        _check(profile)
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    return profile
