"""Close codes and limits: 1003, 1007, 1008, 1009, 503 at capacity, slow readers."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend.config import BackendConfig


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; the close code and reason it sent."""
    with pytest.raises(ConnectionClosed) as caught:
        async with asyncio.timeout(15):
            while True:
                await ws.recv()
    received = caught.value.rcvd
    return (received.code, received.reason) if received else (None, None)


@pytest.mark.asyncio
async def test_binary_frame_closes_1003(users: Any) -> None:
    ws = await users.connect("alice")
    await ws.send(b'{"type": "chat"}')
    assert await closed_with(ws) == (1003, "binary frames are not supported")


@pytest.mark.asyncio
async def test_invalid_utf8_text_frame_closes_1007(users: Any) -> None:
    ws = await users.connect("alice")
    # text=True sends the bytes as a text frame without validating them.
    await ws.send(b'{"text": "\xff\xfe"}', text=True)
    code, _ = await closed_with(ws)
    assert code == 1007


@pytest.mark.asyncio
async def test_frame_over_the_limit_closes_1009_and_at_the_limit_does_not(
    users: Any, run_chat: Any, complete: Any
) -> None:
    ws = await users.connect("alice")
    at_limit = json.dumps({"type": "chat", "id": "big", "text": ""})
    at_limit = at_limit.replace('"text": ""', '"text": "' + "a" * (65536 - len(at_limit)) + '"')
    assert len(at_limit.encode()) == 65536
    await ws.send(at_limit)
    events = await run_chat(ws, "and now?", ref="next")
    complete(events, "alice")
    await ws.send("a" * 65537)
    code, _ = await closed_with(ws)
    assert code == 1009


@pytest.mark.asyncio
async def test_frame_limit_is_configurable(config: BackendConfig, start: Any, users: Any) -> None:
    async with start(config, max_message_bytes=1024) as srv:
        users.url = srv.url
        ws = await users.connect("alice")
        await ws.send("x" * 1025)
        assert (await closed_with(ws))[0] == 1009


@pytest.mark.asyncio
async def test_repeated_bad_requests_close_1008(
    config: BackendConfig, start: Any, users: Any, ask: Any
) -> None:
    async with start(config, bad_request_limit=3) as srv:
        users.url = srv.url
        ws = await users.connect("alice")
        for _ in range(2):
            await ws.send("nope")
            assert json.loads(await ws.recv())["code"] == "bad_request"
        # A good request resets the count.
        assert (await ask(ws, {"type": "create_thread", "id": "ok"}))["type"] == "thread_created"
        for _ in range(2):
            await ws.send("nope")
            assert json.loads(await ws.recv())["code"] == "bad_request"
        await ws.send("nope")
        assert await closed_with(ws) == (1008, "too many bad requests")


@pytest.mark.asyncio
async def test_token_expiring_mid_session_closes_1008(users: Any, token: Any) -> None:
    ws = await users.connect("alice", token=token("alice", ttl_s=2.0))
    assert await closed_with(ws) == (1008, "token expired")


@pytest.mark.asyncio
async def test_full_server_answers_503_and_keeps_serving(
    config: BackendConfig, start: Any, users: Any, run_chat: Any, complete: Any, until: Any
) -> None:
    async with start(config, max_connections=3) as srv:
        users.url = srv.url
        sockets = [await users.connect(f"u{i}") for i in range(3)]
        with pytest.raises(InvalidStatus) as caught:
            await users.connect("late")
        response = caught.value.response
        assert response.status_code == 503
        assert json.loads(response.body) == {
            "error": "unavailable",
            "reason": "too many connections",
        }
        complete(await run_chat(sockets[0], "still fine"), "u0")
        await sockets[1].close()
        await until(lambda: len(srv.slots) == 2)
        late = await users.connect("late")
        complete(await run_chat(late, "got in"), "late")
        await users.close_all()


@pytest.mark.asyncio
async def test_slow_reader_is_closed_1008_and_holds_nobody_up(
    config: BackendConfig,
    start: Any,
    users: Any,
    token: Any,
    raw_client: Any,
    run_chat: Any,
    complete: Any,
    until: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The reply budget lifted: ~10 MB for one user is what it refuses, and the slow-reader
    # close is what must catch a client that stops reading within its budget.
    lifted = {"reply_kib_rate": 1e9, "reply_kib_burst": 1e9}
    async with start(config, send_buffer_bytes=256 * 1024, max_inflight=32, **lifted) as srv:
        users.url = srv.url
        slow = await raw_client(srv.host, srv.port, token("slow"), rcvbuf=4096)
        thread_id = await _fill_a_big_thread(slow)
        for i in range(16):  # ~10 MB of replies that the slow client does not read
            slow.send_text(
                json.dumps({"type": "get_thread", "id": f"g{i}", "thread_id": thread_id}).encode()
            )
        others = [await users.connect(f"fast-{i}") for i in range(5)]

        async def chat_round(label: str) -> None:
            runs = await asyncio.gather(*(run_chat(ws, f"{label} + 1") for ws in others))
            for i, events in enumerate(runs):
                complete(events, f"fast-{i}")

        for round_ in range(3):  # while the slow client's replies pile up
            await chat_round(str(round_))
        # The kernel takes a few MB of the replies before the server's own buffer fills:
        # the close comes once it does, without the slow client reading a byte.
        await until(lambda: "closing the connection of user slow" in caplog.text, 30)
        await chat_round("after")
        opcode, payload = await _last_frame(slow)
        assert opcode == 0x8
        assert struct.unpack("!H", payload[:2])[0] == 1008
        assert payload[2:].decode() == "slow reader: send buffer full"
        await slow.close()
        await users.close_all()


async def _fill_a_big_thread(slow: Any) -> str:
    slow.send_text(b'{"type": "create_thread", "id": "t"}')
    _, payload = await slow.read_frame()
    thread_id = json.loads(payload)["thread_id"]
    for batch in range(10):
        messages = [f"{batch}-{i}-" + "x" * 580 for i in range(100)]
        slow.send_text(
            json.dumps(
                {
                    "type": "post_messages",
                    "id": f"p{batch}",
                    "thread_id": thread_id,
                    "messages": messages,
                }
            ).encode()
        )
        await slow.read_frame()
    return thread_id


async def _last_frame(slow: Any) -> tuple[int, bytes]:
    """Drain the slow client's socket; the close frame is what ends it."""
    async with asyncio.timeout(30):
        while True:
            opcode, payload = await slow.read_frame()
            if opcode == 0x8:
                return opcode, payload


@pytest.mark.asyncio
async def test_a_client_gone_before_its_error_reply_leaves_no_traceback(
    users: Any, ask: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad request and the client's close arrive together: the refusal cannot be sent.

    The session must end quietly, not log "connection handler failed" with a traceback
    (seen under abuse: bench/abuse.py's clients close while their errors are queued).
    """
    ws = await users.connect("alice")
    ws.protocol.send_text(b"nope")
    ws.protocol.send_close(1000)
    ws.transport.write(b"".join(ws.protocol.data_to_send()))  # both frames in one write
    await ws.wait_closed()
    # Alice's frames were queued on the loop before Bob connects: once Bob's request
    # is answered, her handler has run (and the server still serves).
    bob = await users.connect("bob")
    assert (await ask(bob, {"type": "create_thread", "id": "t"}))["type"] == "thread_created"
    handler_errors = [r for r in caplog.records if r.exc_info or "handler failed" in r.message]
    assert handler_errors == []
