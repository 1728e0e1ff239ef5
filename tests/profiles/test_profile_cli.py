"""``slawatch profiles``, ``profiles show`` and ``probe --profile --trace`` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from probes.profiles.registry import builtin, load_file
from probes.target.session import SessionSpec, run_session
from probes.target.tokens import mint_token
from tests.probes_wire.conftest import FaultyServer
from tests.profiles.dialects import SECRET, GraphqlServer

SLAWATCH = str(Path(sys.executable).parent / "slawatch")


async def slawatch(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    env.pop("SLAWATCH_JWT_SECRET_FILE", None)
    proc = await asyncio.create_subprocess_exec(
        SLAWATCH, *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
async def test_profiles_lists_the_builtins_and_the_probes_using_them(tmp_path: Path) -> None:
    code, out, _ = await slawatch("profiles", cwd=tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["profile", "frame", "auth", "token", "from", "probes"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["agent-chat-v1"][1:] == ["json", "header/subprotocol", "jwt", "built-in", "default"]
    assert rows["openai-realtime-text"][3] == "env:OPENAI_API_KEY"
    assert rows["graphql-transport-ws"][2] == "message"


@pytest.mark.asyncio
async def test_the_printed_agent_chat_profile_loaded_from_a_file_behaves_as_the_builtin(
    tmp_path: Path,
) -> None:
    code, out, _ = await slawatch("profiles", "show", "agent-chat-v1", cwd=tmp_path)
    assert code == 0
    path = tmp_path / "agent-chat.toml"
    path.write_text(out)
    loaded = load_file(path)
    assert loaded == builtin("agent-chat-v1") and loaded is not builtin("agent-chat-v1")
    server = FaultyServer()
    faults = ["", "drop_event", "reorder", "seq_gap", "cross_talk", "error_reply", "not_json"]
    async with serve(server.handler, "127.0.0.1", 0, process_request=server.process_request,
                     subprotocols=["agent-chat.v1"]) as ws:  # type: ignore[list-item]  # fmt: skip
        server.port = ws.sockets[0].getsockname()[1]
        for i, fault in enumerate(faults):
            server.faults[f"user-{i}"] = fault
        records = []
        for profile in (builtin("agent-chat-v1"), loaded):
            specs = [
                SessionSpec("r", "p", server.url, "t", f"user-{i}",
                            mint_token(server.secret, f"user-{i}", now=time.time()),
                            "subprotocol" if i % 2 else "header", "hi", (), 5.0, profile)
                for i in range(len(faults))
            ]  # fmt: skip
            results = await asyncio.gather(*(run_session(s) for s in specs))
            records.append([(r.reason, r.error, r.missing_events, r.order_ok, r.seq_gaps,
                             r.foreign_events, r.close_code, [e.type for e in r.events])
                            for r in results])  # fmt: skip
    assert records[0] == records[1]
    assert [r[0] for r in records[0]] == [
        None, "incomplete", "out_of_order", "out_of_order", "isolation_breach", "incomplete",
        "protocol_error",
    ]  # fmt: skip


@pytest.mark.asyncio
async def test_probe_trace_shows_every_frame_with_the_token_redacted(tmp_path: Path) -> None:
    server = GraphqlServer()
    db = f"sqlite:///{tmp_path / 'results.db'}"
    async with serve(server.handler, "127.0.0.1", 0, select_subprotocol=server.select) as ws:
        url = f"ws://127.0.0.1:{ws.sockets[0].getsockname()[1]}/graphql"
        code, out, err = await slawatch(
            "probe", "--target", url, "--profile", "graphql-transport-ws", "--users", "1",
            "--trace", "--healthz", "off", "--db", db, cwd=tmp_path,
        )  # fmt: skip
        assert code == 0, err
    assert "eyJ" not in out + err  # no JWT (their base64 header starts so) anywhere
    assert (
        '>> {"type": "connection_init", "payload": {"Authorization": "Bearer [redacted]"}}' in out
    )
    assert "type 'connection_ack' -> handshake step completed" in out
    assert "type 'next' -> counted: first" in out
    assert "type 'complete' -> counted: done (ok)" in out
    assert "  reason: None" in out and "  profile: graphql-transport-ws" in out
    code, exported, _ = await slawatch("export", "sessions", "--db", db, "--format", "json")
    assert code == 0
    (row,) = json.loads(exported)
    assert (row["profile"], row["outcome"]) == ("graphql-transport-ws", "ok")


@pytest.mark.asyncio
async def test_a_bad_profile_file_stops_the_probe_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "mine"\n[chat]\nsend = [\'{"a": 1}\']\n')
    code, _, err = await slawatch("probe", "--profile", "bad.toml", cwd=tmp_path)
    assert code == 2
    assert err.strip() == (
        "slawatch: config error: profile 'mine': milestones.done: required "
        "(the event types that end a run)"
    )
    code, _, err = await slawatch("profiles", "show", "no-such-profile", cwd=tmp_path)
    assert code == 2 and "profile 'no-such-profile': not a built-in" in err
