"""The built-in graphql-transport-ws profile against the tests' own server: each fault
shows in the records as exactly that, and a clean subscription is ok."""

from __future__ import annotations

from dataclasses import replace

import pytest

from probes.profiles.registry import builtin
from tests.profiles.conftest import by_user, probe_round
from tests.profiles.dialects import GraphqlServer

PROFILE = builtin("graphql-transport-ws")
FAULTS = {
    "u-1": "error",
    "u-2": "resolver_error",
    "u-3": "missing_complete",
    "u-4": "foreign_user",
    "u-5": "foreign_run",
    "u-6": "refuse_4401",
    "u-7": "ping",
    "u-8": "not_json",
}
# user -> reason, a part of the error text
EXPECTED = {
    "u-0": (None, ""),
    "u-1": ("protocol_error", "server error INTERNAL: agent failed"),
    "u-2": ("protocol_error", "server error ?: tool crashed"),
    "u-3": ("timeout", "the run did not finish within 1.5 s"),
    "u-4": ("isolation_breach", "1 event(s) of another user"),
    "u-5": ("isolation_breach", "1 event(s) of another user"),
    "u-6": ("refused", "closed with 4401 (Unauthorized)"),
    "u-7": (None, ""),
    "u-8": ("protocol_error", "frame is not JSON"),
    "u-9": (None, ""),
}


@pytest.mark.asyncio
async def test_each_graphql_fault_shows_as_exactly_that(graphql: tuple[GraphqlServer, str]) -> None:
    server, url = graphql
    server.faults = dict(FAULTS)
    result = await probe_round(url, PROFILE, users=10)
    sessions = by_user(result)
    assert {u: (s.reason, s.error) for u, s in sessions.items() if s.reason is None} == {
        u: (None, "") for u, (reason, _) in EXPECTED.items() if reason is None
    }
    for user, (reason, text) in EXPECTED.items():
        s = sessions[user]
        assert s.reason == reason, (user, s.error)
        assert text in s.error, (user, s.error)
        assert s.profile == "graphql-transport-ws"
    clean = sessions["u-0"]
    assert [e.type for e in clean.events] == ["connection_ack", "next", "next", "next", "complete"]
    assert clean.completion_ms is not None and clean.first_event_ms is not None
    assert clean.close_code == 1000 and clean.auth_mode == "message"
    assert sessions["u-3"].missing_events == ("complete",)
    assert (sessions["u-4"].foreign_events, sessions["u-5"].foreign_events) == (1, 1)
    assert sessions["u-6"].close_code == 4401
    assert sessions["u-1"].completion_ms is None
    assert result.auth_check is not None and result.auth_check.ok  # a bad token: closed 4403
    assert result.auth_check.close_code == 4403
    assert result.db_timings == () and result.profile == "graphql-transport-ws"


@pytest.mark.asyncio
async def test_a_server_that_selects_no_subprotocol_is_a_protocol_error(
    graphql: tuple[GraphqlServer, str],
) -> None:
    server, url = graphql
    server.select_subprotocol = False
    session = (await probe_round(url, PROFILE, users=1, bad_token_check=False)).sessions[0]
    assert session.reason == "protocol_error"
    assert session.error == (
        "protocol_error: server selected subprotocol None, expected 'graphql-transport-ws'"
    )


@pytest.mark.asyncio
async def test_a_client_that_does_not_answer_the_ping_is_dropped_and_that_shows(
    graphql: tuple[GraphqlServer, str],
) -> None:
    server, url = graphql
    server.faults = {"u-0": "ping"}
    deaf = replace(PROFILE, heartbeat=replace(PROFILE.heartbeat, reply=()))
    session = (await probe_round(url, deaf, users=1, bad_token_check=False)).sessions[0]
    assert (session.reason, session.close_code) == ("closed_abnormally", 4400)
    assert session.error == "closed_abnormally: closed with 4400 (pong not received)"


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [401, 403])
async def test_an_upgrade_refused_with_http_401_or_403_is_a_refused_credential(
    graphql: tuple[GraphqlServer, str], status: int
) -> None:
    """The handshake form of a refusal (``refused_http``) is recorded as the close forms
    4401/4403 are: reason ``refused``, no run; and the bad-token check counts it as refused."""
    server, url = graphql
    server.refuse_http = status
    result = await probe_round(url, PROFILE, users=2)
    for s in result.sessions:
        assert (s.outcome, s.reason, s.http_status, s.close_code) == (
            "failed", "refused", status, None,
        )  # fmt: skip
        assert s.error == f"refused: HTTP {status} credential refused"
        assert (s.events, s.first_event_ms, s.completion_ms) == ((), None, None)
    assert result.auth_check is not None
    assert (result.auth_check.ok, result.auth_check.http_status) == (True, status)
