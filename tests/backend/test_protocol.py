"""Parsing client frames: every refusal has a code and an exact message."""

from __future__ import annotations

import json

import pytest

from backend.protocol import (
    Chat,
    CreateThread,
    GetThread,
    PostMessages,
    RequestError,
    parse_request,
)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"type": "chat", "id": "1", "text": "hi"}, Chat("1", "hi")),
        ({"type": "chat", "id": "1", "text": "hi", "thread_id": "t"}, Chat("1", "hi", "t")),
        ({"type": "create_thread", "id": "2"}, CreateThread("2")),
        ({"type": "create_thread", "id": "2", "title": "x"}, CreateThread("2", "x")),
        (
            {"type": "post_messages", "id": "3", "thread_id": "t", "messages": ["a", "b"]},
            PostMessages("3", "t", ("a", "b")),
        ),
        ({"type": "get_thread", "id": "4", "thread_id": "t"}, GetThread("4", "t")),
    ],
)
def test_valid_requests_parse_to_typed_records(frame: dict, expected: object) -> None:
    assert parse_request(json.dumps(frame)) == expected


@pytest.mark.parametrize(
    ("text", "code", "message", "ref"),
    [
        ("{not json", "bad_request", "invalid JSON", None),
        ("[1, 2]", "bad_request", "message must be a JSON object", None),
        ('{"id": "1"}', "bad_request", "missing field: type", "1"),
        ('{"type": "chat", "text": "x"}', "bad_request", "missing field: id", None),
        (
            '{"type": "chat", "id": 5, "text": "x"}',
            "bad_request",
            "field 'id' must be a string",
            None,
        ),
        (
            '{"type": "chat", "id": "", "text": "x"}',
            "bad_request",
            "field 'id' must be 1..256 characters",
            None,
        ),
        ('{"type": "dance", "id": "1"}', "bad_request", "unknown type: 'dance'", "1"),
        ('{"type": "chat", "id": "1"}', "bad_request", "missing field: text", "1"),
        (
            '{"type": "chat", "id": "1", "text": 3}',
            "bad_request",
            "field 'text' must be a string",
            "1",
        ),
        (
            '{"type": "chat", "id": "1", "text": "x", "thread_id": 3}',
            "bad_request",
            "field 'thread_id' must be a string",
            "1",
        ),
        ('{"type": "get_thread", "id": "1"}', "bad_request", "missing field: thread_id", "1"),
        (
            '{"type": "post_messages", "id": "1", "thread_id": "t"}',
            "bad_request",
            "missing field: messages",
            "1",
        ),
        (
            '{"type": "post_messages", "id": "1", "thread_id": "t", "messages": []}',
            "bad_request",
            "field 'messages' must hold 1..100 strings",
            "1",
        ),
        (
            '{"type": "post_messages", "id": "1", "thread_id": "t", "messages": [1]}',
            "bad_request",
            "field 'messages' must hold 1..100 strings",
            "1",
        ),
        (
            '{"type": "post_messages", "id": "1", "thread_id": "t", "messages": "a"}',
            "bad_request",
            "field 'messages' must be a list",
            "1",
        ),
    ],
)
def test_bad_frames_are_refused_with_exact_messages(
    text: str, code: str, message: str, ref: str | None
) -> None:
    with pytest.raises(RequestError) as caught:
        parse_request(text)
    assert (caught.value.code, caught.value.message, caught.value.ref) == (code, message, ref)


def test_batch_of_more_than_100_messages_is_too_large() -> None:
    frame = {"type": "post_messages", "id": "9", "thread_id": "t", "messages": ["m"] * 101}
    with pytest.raises(RequestError) as caught:
        parse_request(json.dumps(frame))
    assert caught.value.code == "too_large"
    assert caught.value.message == "at most 100 messages per batch, got 101"
