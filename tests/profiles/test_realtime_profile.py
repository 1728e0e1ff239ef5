"""The built-in openai-realtime-text profile against the tests' own Realtime server:
each fault shows as exactly that, a clean response is ok, the key never shows."""

from __future__ import annotations

import pytest

from probes.profiles.registry import builtin
from tests.profiles.conftest import API_KEY, by_user, probe_round, with_header
from tests.profiles.dialects import RealtimeServer

# The server tells users apart by this header (one API key serves them all).
PROFILE = with_header(builtin("openai-realtime-text"), "X-Probe-User", "{user_id}")
FAULTS = {
    "u-1": "error",
    "u-2": "missing_done",
    "u-3": "done_failed",
    "u-4": "foreign_response",
    "u-5": "foreign_nonce",
    "u-6": "not_json",
}
EXPECTED = {
    "u-0": (None, ""),
    "u-1": ("protocol_error", "protocol_error: server error internal: model failed"),
    "u-2": ("timeout", "timeout: the run did not finish within 1.5 s"),
    "u-3": (
        "incomplete",
        "incomplete: missing response.done; server said model_error: the model failed",
    ),
    "u-4": ("isolation_breach", "isolation_breach: 1 event(s) of another user, thread or run"),
    "u-5": ("isolation_breach", "isolation_breach: 1 event(s) of another user, thread or run"),
    "u-6": ("protocol_error", "protocol_error: frame is not JSON: Expecting value"),
    "u-7": (None, ""),
}


@pytest.mark.asyncio
async def test_each_realtime_fault_shows_as_exactly_that(
    realtime: tuple[RealtimeServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    server, url = realtime
    server.faults = dict(FAULTS)
    result = await probe_round(url, PROFILE, users=8)
    sessions = by_user(result)
    for user, (reason, error) in EXPECTED.items():
        assert (sessions[user].reason, sessions[user].error[: len(error)]) == (reason, error), user
    clean = sessions["u-0"]
    assert [e.type for e in clean.events] == [
        "session.created", "session.updated", "conversation.item.created", "response.created",
        "response.output_text.delta", "response.done",
    ]  # fmt: skip
    assert clean.first_event_ms is not None and clean.completion_ms is not None
    assert clean.agent_run_id is not None and clean.agent_run_id.startswith("resp_")
    assert sessions["u-2"].missing_events == ("response.done",)
    assert sessions["u-3"].completion_ms is None
    assert [e.foreign for e in sessions["u-5"].events].count(True) == 1
    assert result.auth_check is not None and result.auth_check.ok
    assert result.auth_check.http_status == 401
    assert API_KEY not in repr(result)


@pytest.mark.asyncio
async def test_a_refused_key_is_refused_and_never_recorded(
    realtime: tuple[RealtimeServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-that-the-server-does-not-know")
    _, url = realtime
    result = await probe_round(url, PROFILE, users=2, bad_token_check=False)
    assert {(s.reason, s.http_status) for s in result.sessions} == {("refused", 401)}
    assert "sk-wrong-key" not in repr(result)
