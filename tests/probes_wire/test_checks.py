"""The pure verdicts: completeness, order, isolation, and the one failure reason."""

from __future__ import annotations

from typing import Any

import pytest

from probes.judging.checks import Failure, StreamFindings, assess, judge, seq_gaps, tools_paired
from probes.records import Event

ME, CHAT, RUN, THREAD = "alice", "chat-1", "run-1", "thread-1"


def ev(kind: str, seq: int | None, **fields: Any) -> dict[str, Any]:
    """One event of alice's run for chat-1, unless ``fields`` say otherwise."""
    base = {"type": kind, "ref": CHAT, "user_id": ME, "run_id": RUN, "thread_id": THREAD}
    return {
        **base,
        **({"seq": seq} if seq is not None else {}),
        "ts": 1000.0 + (seq or 0),
        **fields,
    }


TOOL = {"tool": "calculator"}
STARTED, COMPLETED = ev("agent_started", 1), ev("agent_completed", 6, db_ms={"result_store": 1.5})
CLEAN = [
    STARTED,
    ev("agent_thinking", 2),
    ev("tool_executing", 3, **TOOL),
    ev("tool_completed", 4, **TOOL, result="84"),
    ev("agent_thinking", 5),
    COMPLETED,
]
ALL = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")


def received(messages: list[Any]) -> list[tuple[float, Any]]:
    return [(10.0 * (i + 1), m) for i, m in enumerate(messages)]


# name, messages -> missing, order_ok, seq_gaps, foreign, malformed, agent_run_id
ASSESS_CASES = [
    ("clean", CLEAN, (), True, 0, 0, 0, RUN),
    ("dropped tool_completed", CLEAN[:3] + CLEAN[4:], ("tool_completed",), False, 1, 0, 0, RUN),
    ("tools swapped", [*CLEAN[:2], CLEAN[3], CLEAN[2], *CLEAN[4:]], (), False, 0, 0, 0, RUN),
    (
        "seq skips 4",
        [*CLEAN[:3], *(dict(m, seq=m["seq"] + 1) for m in CLEAN[3:])],
        (),
        True,
        1,
        0,
        0,
        RUN,
    ),
    ("seq starts at 2", [dict(m, seq=m["seq"] + 1) for m in CLEAN], (), True, 1, 0, 0, RUN),
    (
        "seq repeats (3 never came)",
        [*CLEAN[:2], dict(CLEAN[2], seq=2), *CLEAN[3:]],
        (),
        False,
        1,
        0,
        0,
        RUN,
    ),
    (
        "an event without seq",
        [*CLEAN[:2], ev("tool_executing", None, **TOOL), *CLEAN[3:]],
        (),
        False,
        1,
        0,
        0,
        RUN,
    ),
    (
        "another user's event",
        [*CLEAN[:3], ev("agent_thinking", 2, user_id="bob", run_id="run-9"), *CLEAN[3:]],
        (),
        True,
        0,
        1,
        0,
        RUN,
    ),
    (
        "own user, another run",
        [*CLEAN[:3], ev("agent_thinking", 3, run_id="run-9"), *CLEAN[3:]],
        (),
        True,
        0,
        1,
        0,
        RUN,
    ),
    (
        "own run, another thread",
        [*CLEAN[:3], ev("agent_thinking", 3, thread_id="t-9"), *CLEAN[3:]],
        (),
        True,
        0,
        1,
        0,
        RUN,
    ),
    (
        "foreign event before the own run starts",
        [ev("agent_started", 1, user_id="bob", run_id="run-9", ref="x"), *CLEAN],
        (),
        True,
        0,
        1,
        0,
        RUN,
    ),
    ("nothing arrived", [], ALL, False, 0, 0, 0, None),
    (
        "only an error reply",
        [{"type": "error", "ref": CHAT, "code": "internal", "message": "agent failed"}],
        ALL,
        False,
        0,
        0,
        0,
        None,
    ),
    (
        "own user, another chat only",
        [dict(m, ref="chat-9") for m in CLEAN],
        ALL,
        False,
        0,
        0,
        0,
        None,
    ),
    ("not objects with a type", [[1, 2], {"no": "type"}, "text", *CLEAN], (), True, 0, 0, 3, RUN),
    (
        "agent_started twice",
        [*CLEAN[:2], ev("agent_started", 3), *CLEAN[2:]],
        (),
        False,
        0,
        0,
        0,
        RUN,
    ),
    (
        "no agent_thinking",
        [CLEAN[0], *CLEAN[2:4], CLEAN[5]],
        ("agent_thinking",),
        False,
        2,
        0,
        0,
        RUN,
    ),
    ("ends before agent_completed", CLEAN[:5], ("agent_completed",), False, 0, 0, 0, RUN),
    (
        "tool_completed for another tool",
        [*CLEAN[:3], ev("tool_completed", 4, tool="search"), *CLEAN[4:]],
        (),
        False,
        0,
        0,
        0,
        RUN,
    ),
]


@pytest.mark.parametrize(
    ("messages", "missing", "order", "gaps", "foreign", "malformed", "run_id"),
    [case[1:] for case in ASSESS_CASES],
    ids=[case[0] for case in ASSESS_CASES],
)
def test_assess_judges_own_run_only(
    messages: list[Any],
    missing: tuple[str, ...],
    order: bool,
    gaps: int,
    foreign: int,
    malformed: int,
    run_id: str | None,
) -> None:
    verdict = assess(received(messages), user_id=ME, chat_ref=CHAT)
    assert verdict.missing_events == missing
    assert verdict.order_ok is order
    assert verdict.seq_gaps == gaps
    assert verdict.foreign_events == foreign
    assert verdict.malformed == malformed
    assert verdict.agent_run_id == run_id


def test_assess_records_every_message_with_its_times_and_foreign_flag() -> None:
    intruder = ev("agent_thinking", 2, user_id="bob", run_id="run-9", ref="x")
    verdict = assess(received([*CLEAN[:2], intruder, *CLEAN[2:]]), user_id=ME, chat_ref=CHAT)
    assert verdict.events == (
        Event("agent_started", 10.0, 1, 1001.0, False),
        Event("agent_thinking", 20.0, 2, 1002.0, False),
        Event("agent_thinking", 30.0, 2, 1002.0, True),
        Event("tool_executing", 40.0, 3, 1003.0, False),
        Event("tool_completed", 50.0, 4, 1004.0, False),
        Event("agent_thinking", 60.0, 5, 1005.0, False),
        Event("agent_completed", 70.0, 6, 1006.0, False),
    )
    assert (verdict.first_ms, verdict.completed_ms) == (10.0, 70.0)
    assert verdict.db_ms == {"result_store": 1.5}


def test_assess_keeps_only_numeric_db_ms() -> None:
    completed = dict(COMPLETED, db_ms={"result_store": 2, "note": "x", "flag": True, "w": 0.5})
    verdict = assess(received([*CLEAN[:5], completed]), user_id=ME, chat_ref=CHAT)
    assert verdict.db_ms == {"result_store": 2.0, "w": 0.5}


def test_assess_collects_server_error_replies() -> None:
    error = {"type": "error", "ref": CHAT, "code": "rate_limited", "message": "slow down"}
    verdict = assess(received([error]), user_id=ME, chat_ref=CHAT)
    assert verdict.server_errors == ("rate_limited: slow down",)
    assert verdict.events == (Event("error", 10.0, None, None, False),)


def test_assess_follows_a_configured_event_list() -> None:
    expected = ("agent_started", "agent_completed")
    verdict = assess(
        received([STARTED, dict(COMPLETED, seq=2)]), user_id=ME, chat_ref=CHAT, expected=expected
    )
    assert (verdict.missing_events, verdict.order_ok, verdict.seq_gaps) == ((), True, 0)


@pytest.mark.parametrize(
    ("seqs", "gaps"),
    [
        ([], 0),
        ([1, 2, 3], 0),
        ([1, 2, 4], 1),
        ([1, 2, 5], 1),
        ([2, 4], 2),
        ([1, 3, 5, 7], 3),
        ([3, 1, 2], 0),
    ],
)
def test_seq_gaps_counts_runs_of_missing_numbers(seqs: list[int], gaps: int) -> None:
    assert seq_gaps(seqs) == gaps


@pytest.mark.parametrize(
    ("steps", "paired"),
    [
        ([], True),
        ([("tool_executing", "a"), ("tool_completed", "a")], True),
        (
            [
                ("tool_executing", "a"),
                ("tool_executing", "b"),
                ("tool_completed", "a"),
                ("tool_completed", "b"),
            ],
            True,
        ),
        ([("tool_executing", "a")], False),
        ([("tool_completed", "a"), ("tool_executing", "a")], False),
        ([("tool_executing", "a"), ("tool_completed", "b")], False),
    ],
)
def test_tools_paired(steps: list[tuple[str, str]], paired: bool) -> None:
    assert tools_paired([{"type": kind, "tool": tool} for kind, tool in steps]) is paired


GOOD = StreamFindings(events=(Event("agent_started", 1.0),), order_ok=True)
# name, failures, close code, verdict -> reason, error
JUDGE_CASES = [
    ("all well", [], 1000, GOOD, None, ""),
    (
        "refused beats everything",
        [Failure("refused", "HTTP 401")],
        None,
        StreamFindings(missing_events=ALL),
        "refused",
        "refused: HTTP 401",
    ),
    (
        "timeout beats incomplete and the close code",
        [Failure("timeout", "the run did not finish within 1 s")],
        1000,
        StreamFindings(missing_events=("agent_completed",), order_ok=False),
        "timeout",
        "timeout: the run did not finish within 1 s",
    ),
    (
        "a 1011 beats incomplete",
        [],
        1011,
        StreamFindings(missing_events=("agent_completed",)),
        "closed_abnormally",
        "closed_abnormally: closed with 1011 (boom)",
    ),
    (
        "no close code at all",
        [],
        None,
        GOOD,
        "closed_abnormally",
        "closed_abnormally: no close code",
    ),
    (
        "isolation beats incomplete",
        [],
        1000,
        StreamFindings(foreign_events=2, missing_events=("tool_completed",)),
        "isolation_breach",
        "isolation_breach: 2 event(s) of another user, thread or run",
    ),
    (
        "incomplete names what is missing",
        [],
        1000,
        StreamFindings(missing_events=("tool_completed", "agent_completed"), order_ok=False),
        "incomplete",
        "incomplete: missing tool_completed, agent_completed",
    ),
    (
        "incomplete quotes the server's error",
        [],
        1000,
        StreamFindings(missing_events=ALL, server_errors=("internal: agent failed",)),
        "incomplete",
        "incomplete: missing " + ", ".join(ALL) + "; server said internal: agent failed",
    ),
    (
        "out of order",
        [],
        1000,
        StreamFindings(order_ok=False),
        "out_of_order",
        "out_of_order: events out of protocol order",
    ),
    (
        "a seq gap",
        [],
        1000,
        StreamFindings(order_ok=True, seq_gaps=1),
        "out_of_order",
        "out_of_order: 1 seq gap(s)",
    ),
    (
        "a frame that is not JSON",
        [Failure("protocol_error", "frame is not JSON: Expecting value")],
        1000,
        GOOD,
        "protocol_error",
        "protocol_error: frame is not JSON: Expecting value",
    ),
    (
        "messages that are not objects",
        [],
        1000,
        StreamFindings(order_ok=True, malformed=2),
        "protocol_error",
        "protocol_error: 2 message(s) not an object with a type",
    ),
    (
        "the first failure of a reason gives the detail",
        [Failure("protocol_error", "binary frame"), Failure("protocol_error", "frame is not JSON")],
        1000,
        GOOD,
        "protocol_error",
        "protocol_error: binary frame",
    ),
]


@pytest.mark.parametrize(
    ("failures", "close_code", "verdict", "reason", "error"),
    [case[1:] for case in JUDGE_CASES],
    ids=[case[0] for case in JUDGE_CASES],
)
def test_judge_picks_the_first_applicable_reason(
    failures: list[Failure],
    close_code: int | None,
    verdict: StreamFindings,
    reason: str | None,
    error: str,
) -> None:
    close_reason = "boom" if close_code == 1011 else ""
    outcome = "ok" if reason is None else "failed"
    judged = judge(verdict, failures=failures, close_code=close_code, close_reason=close_reason)
    assert judged == (outcome, reason, error)
