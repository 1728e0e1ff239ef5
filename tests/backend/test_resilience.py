"""One user's trouble is nobody else's: a stalled DB operation, keepalive through it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.protocol import State

from backend.config import BackendConfig


@pytest.mark.asyncio
async def test_five_second_db_stall_holds_up_only_its_own_request(
    config: BackendConfig,
    start: Any,
    users: Any,
    admin: Any,
    ask: Any,
    run_chat: Any,
    complete: Any,
) -> None:
    async with start(config, ping_interval_s=0.2, ping_timeout_s=1.0) as srv:
        users.url = srv.url
        # Client keepalive too: a blocked server loop would miss pongs and fail these.
        keepalive = {"ping_interval": 0.2, "ping_timeout": 1.0}
        stalled = await users.connect("stalled", **keepalive)
        others = [await users.connect(f"other-{i}", **keepalive) for i in range(5)]
        threads = [
            (await ask(ws, {"type": "create_thread", "id": "t"}))["thread_id"] for ws in others
        ]

        await admin(srv, "PUT", {"db_delay_ms": "thread_create:5000"})
        await stalled.send(json.dumps({"type": "create_thread", "id": "stuck"}))
        pending = asyncio.ensure_future(stalled.recv())

        for round_ in range(5):
            runs = await asyncio.gather(
                *(
                    run_chat(ws, f"round {round_}: 2 + {i}", ref=f"r{round_}", thread_id=thread)
                    for i, (ws, thread) in enumerate(zip(others, threads, strict=True))
                )
            )
            for i, events in enumerate(runs):
                complete(events, f"other-{i}")
        assert not pending.done(), "the stalled create_thread came back before the others"

        reply = json.loads(await pending)
        assert reply["type"] == "thread_created" and reply["db_ms"] >= 5000
        await admin(srv, "DELETE")
        for ws in (stalled, *others):
            assert ws.state is State.OPEN
            assert ws.latency > 0  # pongs came back while the DB thread slept
        await users.close_all()
