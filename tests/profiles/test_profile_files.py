"""Profile files written from PROFILES.md alone (``files/``), against the tests' own
"acme" server (``acme.py``), as the issue's checker will: every fault the server
commits shows in its session's record as exactly that, a clean session is ``ok``,
and every key and placeholder of the schema is read as documented.

Also the auth modes ``query`` and ``none``, a list of modes against a server (or a
proxy) that reads one form only, and no credential in any record, export or trace.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import tomllib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest
from websockets.asyncio.server import serve

from probes.profiles.registry import load_file
from probes.profiles.templates import token_b64url
from tests.profiles.acme import Acme
from tests.profiles.conftest import by_user, probe_round
from tests.profiles.dialects import SECRET

FILES = Path(__file__).with_name("files")
ENVELOPE = load_file(FILES / "acme-envelope.toml")
OPEN = load_file(FILES / "acme-open.toml")
KEY = "acme key+/with spaces&=1"  # a static secret every encoding changes
SLAWATCH = str(Path(sys.executable).parent / "slawatch")
# PROFILES.md's schema, section -> keys (the key names are fixed there)
# fmt: off
SCHEMA = {
    "": {"name", "frame"},
    "connect": {"query", "headers", "subprotocols", "expect_subprotocol"},
    "auth": {"mode", "token", "header", "header_value", "subprotocol", "query_param", "message",
             "refused_http", "refused_close", "refused_events"},
    "handshake": {"send", "expect", "fail", "timeout"},
    "chat": {"send", "correlate_path", "run_id_paths"},
    "events": {"type_path", "type_from_keys", "ignore"},
    "milestones": {"start", "first", "tool_start", "tool_end", "done", "done_ok", "error",
                   "error_fatal", "error_if_present"},
    "completion": {"order", "required", "min_counts", "seq_path"},
    "isolation": {"user_path", "constant_paths", "canary"},
    "heartbeat": {"ws_ping_interval", "reply"},
    "close": {"normal"},
}
PLACEHOLDERS = ("{token}", "{token_b64url}", "{user_id}", "{request_id}", "{message}",
                "{message_json}", "{nonce}", "{now_ms}", "{echo:")
# fmt: on


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ACME_API_KEY", KEY)
    yield KEY


@asynccontextmanager
async def serving(server: Acme, path: str = "/agent") -> AsyncIterator[str]:
    async with serve(
        server.handler, "127.0.0.1", 0,
        process_request=server.process_request, select_subprotocol=server.select,
    ) as ws:  # fmt: skip
        yield f"ws://127.0.0.1:{ws.sockets[0].getsockname()[1]}{path}"


def forms(secret: str) -> tuple[str, ...]:
    return (secret, quote(secret, safe=""), quote_plus(secret), token_b64url(secret))


def assert_nowhere(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            for text in texts:
                assert form not in text, f"{form[:12]}... found"


def test_the_files_use_every_key_and_placeholder_of_the_schema() -> None:
    used: dict[str, set[str]] = {name: set() for name in SCHEMA}
    text = ""
    for path in sorted(FILES.glob("*.toml")):
        text += path.read_text()
        for key, value in tomllib.loads(path.read_text()).items():
            if key in SCHEMA:
                tables = value if isinstance(value, list) else [value]
                used[key] |= {k for t in tables for k in t}
            else:
                used[""].add(key)
    assert used == SCHEMA
    assert [p for p in PLACEHOLDERS if p not in text] == []


# --- a team's own envelope: first-message auth, two handshake steps, a canary -------

ENVELOPE_FAULTS = {
    "u-1": "error", "u-2": "missing_done", "u-3": "done_failed", "u-4": "foreign_nonce",
    "u-5": "seq_gap", "u-6": "reorder", "u-7": "unpaired_tool", "u-8": "not_json",
    "u-9": "close_1011", "u-10": "keepalive", "u-11": "refuse", "u-12": "config_rejected",
}  # fmt: skip
ENVELOPE_EXPECTED = {
    "u-0": (None, ""),
    "u-1": ("protocol_error", "protocol_error: server error E_AGENT: agent failed"),
    "u-2": ("timeout", "timeout: the run did not finish within 1.5 s"),
    "u-3": ("incomplete", 'incomplete: missing finish; server said finish with event.status "failed"'),  # noqa: E501
    "u-4": ("isolation_breach", "isolation_breach: 1 event(s) of another user, thread or run"),
    "u-5": ("out_of_order", "out_of_order: 1 seq gap(s)"),
    "u-6": ("out_of_order", "out_of_order: events out of protocol order"),
    "u-7": ("incomplete", "incomplete: missing tool_result"),
    "u-8": ("protocol_error", "protocol_error: frame is not JSON"),
    "u-9": ("closed_abnormally", "closed_abnormally: closed with 1011 (internal error)"),
    "u-10": (None, ""),  # a keep-alive, acknowledged by the heartbeat reply
    "u-11": ("refused", "refused: ?: token [redacted] is not valid (auth_failed)"),
    "u-12": ("protocol_error", "protocol_error: handshake step 2: config_rejected: ?: no tools here"),  # noqa: E501
    "u-13": (None, ""),
}  # fmt: skip


@pytest.mark.asyncio
async def test_the_envelope_profile_catches_every_fault_and_invents_none() -> None:
    server = Acme()
    server.faults = dict(ENVELOPE_FAULTS)
    async with serving(server) as url:
        result = await probe_round(url, ENVELOPE, users=14)
    sessions = by_user(result)
    for user, (reason, error) in ENVELOPE_EXPECTED.items():
        s = sessions[user]
        assert (s.reason, s.error[: len(error)]) == (reason, error), user
        assert (s.profile, s.auth_mode, "eyJ" in repr(s)) == ("acme-envelope", "message", False)
    # the server's own account, session by session: a first token and a finish with
    # status "done" were sent exactly where the records have the figures
    for truth in server.truth:
        s, sent = sessions[truth.user], [kind for kind, _ in truth.sent]
        assert (s.first_event_ms is not None) == ("token" in sent), truth.user
        finished = "finish" in sent and truth.fault != "done_failed"
        assert (s.completion_ms is not None) == finished, truth.user
    assert {t.user for t in server.truth} == set(sessions) - {"u-11", "u-12"}  # refused, failed
    clean = sessions["u-0"]
    assert [e.type for e in clean.events] == [
        "hello", "auth_ok", "config_ok", "started", "token", "tool_call", "tool_result",
        "token", "finish",
    ]  # fmt: skip
    assert (clean.foreign_events, clean.seq_gaps, clean.order_ok) == (0, 0, True)
    assert clean.agent_run_id is not None and len(clean.agent_run_id) == 8  # run_id_paths
    assert sessions["u-4"].foreign_events == 1  # another user's nonce, the only foreign event
    # the server greets before it reads a credential: the bad token is refused after that
    assert result.auth_check is not None and result.auth_check.ok
    # connect.query, connect.headers and {user_id} reached the server
    query = parse_qs(urlsplit(server.requests[0]).query)
    assert query["client"] == ["slawatch"] and query["user"][0].startswith("u-")


@pytest.mark.asyncio
async def test_a_refusal_by_close_code_is_refused_and_so_is_the_bad_token() -> None:
    server = Acme(refuse="close")
    server.faults = {"u-1": "refuse"}
    async with serving(server) as url:
        result = await probe_round(url, ENVELOPE, users=2)
    ok, refused = by_user(result)["u-0"], by_user(result)["u-1"]
    assert ok.reason is None
    assert (refused.reason, refused.close_code) == ("refused", 4401)
    assert refused.error == "refused: closed with 4401 (unauthorized)"
    assert result.auth_check is not None
    assert (result.auth_check.ok, result.auth_check.close_code) == (True, 4401)


# --- auth modes: a list alternating per user, query, none ----------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("accept", "ok_modes"),
    [
        (("query",), {"query"}),  # a proxy that strips the header and the subprotocol
        (("header",), {"header"}),  # one that drops the query string
        (("header", "query", "subprotocol"), {"header", "query", "subprotocol"}),
    ],
)
async def test_a_list_of_modes_shows_the_forms_a_server_ignores_as_those_users_refused(
    api_key: str, accept: tuple[str, ...], ok_modes: set[str]
) -> None:
    profile = load_file(FILES / "acme-keys.toml")
    server = Acme(accept=accept, key=api_key, style="keys")
    async with serving(server) as url:
        result = await probe_round(url, profile, users=6)
    modes = [s.auth_mode for s in result.sessions]
    assert modes == ["header", "query", "subprotocol"] * 2
    for s in result.sessions:
        if s.auth_mode in ok_modes:
            assert (s.reason, s.error) == (None, ""), s.user_id
        else:
            assert (s.reason, s.http_status, s.events) == ("refused", 401, ()), s.user_id
    assert result.auth_check is not None and result.auth_check.ok  # a 401, by either cause
    assert_nowhere([api_key], repr(result))


@pytest.mark.asyncio
async def test_the_keys_profile_reads_type_from_keys_and_non_fatal_errors(api_key: str) -> None:
    profile = load_file(FILES / "acme-keys.toml")
    server = Acme(accept=("header", "query", "subprotocol"), key=api_key, style="keys")
    server.faults = {"u-1": "error", "u-2": "foreign_user", "u-3": "not_json",
                     "u-4": "missing_done", "u-5": "done_failed"}  # fmt: skip
    async with serving(server) as url:
        sessions = by_user(await probe_round(url, profile, users=7))
    assert [e.type for e in sessions["u-0"].events] == ["ready", "delta", "delta", "done"]
    assert [(u, s.reason) for u, s in sessions.items()] == [
        ("u-0", None), ("u-1", "protocol_error"), ("u-2", "isolation_breach"),
        ("u-3", "protocol_error"), ("u-4", "timeout"), ("u-5", "incomplete"), ("u-6", None),
    ]  # fmt: skip
    # error_fatal = false: the error is recorded, the run still read to its done
    assert sessions["u-1"].error == "protocol_error: server error E_TOOL: tool failed"
    assert sessions["u-1"].completion_ms is not None
    assert sessions["u-2"].error.endswith("(from somebody-else)")
    assert sessions["u-5"].error == "incomplete: missing done; server said done with done.ok false"


@pytest.mark.asyncio
async def test_a_profile_without_auth_presents_nothing_and_has_no_bad_token_check() -> None:
    server = Acme(accept=())
    server.faults = {"u-1": "error", "u-2": "foreign_user", "u-3": "reorder", "u-4": "missing_done"}
    async with serving(server) as url:
        result = await probe_round(url, OPEN, users=5)
    sessions = by_user(result)
    assert [(u, s.reason) for u, s in sessions.items()] == [
        ("u-0", None), ("u-1", "protocol_error"), ("u-2", "isolation_breach"),
        ("u-3", None),  # order = "unordered": a token before started is not a fault here
        ("u-4", "timeout"),
    ]  # fmt: skip
    assert {s.auth_mode for s in sessions.values()} == {"none"}
    assert result.auth_check is None  # nothing presented, nothing to refuse: no data
    assert all("key=" not in p and "access_token" not in p for p in server.requests)
    # first (default): the first counted event after the chat, here "started"
    assert sessions["u-0"].first_event_ms is not None
    assert sessions["u-0"].events[0].type == "started"  # hello is in events.ignore


# --- no credential anywhere: records, the store, exports, --trace --------------------


async def slawatch(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        SLAWATCH, *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def stored_text(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables]
    return json.dumps(rows, default=str)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["static key, three forms", "jwt in the query"])
async def test_a_query_string_token_shows_in_no_record_export_log_or_trace_line(
    tmp_path: Path, kind: str
) -> None:
    """A server that echoes the request path (the token with it) in its 401 body, and a
    refusal event that echoes the token: what the probe prints and keeps is redacted."""
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET, ACME_API_KEY=KEY)
    env.pop("SLAWATCH_JWT_SECRET_FILE", None)
    if kind.startswith("static"):
        profile, server = FILES / "acme-keys.toml", Acme(accept=("query",), key=KEY, style="keys")
        server.faults = {"probe-user-1": "refuse"}  # a query user: the 401 echoes its key
        users, trace_mode = "4", "query"
    else:
        text = (FILES / "acme-open.toml").read_text().replace('mode = "none"', 'mode = "query"')
        profile = tmp_path / "acme-query.toml"
        profile.write_text(text.replace('name = "acme-open"', 'name = "acme-query"'))
        server = Acme(accept=("query",))
        server.faults = {"probe-user-1": "refuse"}
        users, trace_mode = "3", "query"
    db = tmp_path / "results.db"
    async with serving(server) as url:
        prefix = ["probe", "--target", url, "--profile", str(profile), "--db", f"sqlite:///{db}"]
        code, out, err = await slawatch(*prefix, "--users", users, cwd=tmp_path, env=env)
        assert code in (0, 1), err
        traced = await slawatch(*prefix, "--users", "1", "--trace", "--auth", trace_mode,
                                cwd=tmp_path, env=env)  # fmt: skip
    exports = [
        (await slawatch("export", what, "--db", f"sqlite:///{db}", "--format", fmt,
                        cwd=tmp_path, env=env))[1]
        for what in ("sessions", "rounds") for fmt in ("csv", "json")
    ]  # fmt: skip
    sessions = json.loads(exports[1])
    refused = next(s for s in sessions if s["user_id"] == "probe-user-1")
    assert refused["reason"] == "refused" and "[redacted]" in refused["error"]
    assert {s["target"] for s in sessions} == {url}  # the stored target carries no token
    assert ">> " in traced[1] and "record:" in traced[1]
    secrets = [KEY] if kind.startswith("static") else []
    for path in server.requests:  # every credential the server was sent
        query = parse_qs(urlsplit(path).query)
        secrets += query.get("key", []) + query.get("access_token", [])
    assert len(secrets) >= 3
    assert_nowhere(secrets, out, err, *traced[1:], *exports, stored_text(db))
