"""No token in any log line: a DEBUG run of the real backend process and of a real probe.

websockets' debug loggers print every handshake header, so without the
redaction filters the `Authorization: Bearer` header and the `bearer.<token>`
subprotocol (whole JWTs, and the admin token) reach the logs.
"""

from __future__ import annotations

import io
import logging
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.redaction import redact as backend_redact
from probes.redaction import install_redaction, redact
from tests.support.backend_process import ADMIN_TOKEN, start_backends, stop_backends
from tests.support.probing import probe_round

JWT = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")


@pytest.fixture
def client_debug_log() -> Iterator[io.StringIO]:
    """websockets' client logger at DEBUG into a buffer, as `logging.basicConfig` would."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    root, client = logging.getLogger(), logging.getLogger("websockets.client")
    root.addHandler(handler)
    old_level = client.level
    client.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        client.setLevel(old_level)
        root.removeHandler(handler)


@pytest.mark.asyncio
async def test_a_debug_run_logs_no_token(tmp_path: Path, client_debug_log: io.StringIO) -> None:
    install_redaction()
    log_path = tmp_path / "backend.log"
    with log_path.open("w") as log_file:
        (backend,) = start_backends(tmp_path, (), extra=("--log-level", "DEBUG"), stderr=log_file)
        try:
            for auth in ("header", "subprotocol"):
                result = await probe_round(backend.url, users=2, auth=auth)
                assert result.status == "passed", result
            admin = urllib.request.Request(
                f"{backend.http}/admin/faults", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            with urllib.request.urlopen(admin, timeout=10) as answer:
                assert answer.status == 200
        finally:
            stop_backends([backend])
    server_log, client_log = log_path.read_text(), client_debug_log.getvalue()
    for name, text in (("backend", server_log), ("probe", client_log)):
        assert "Authorization: Bearer [redacted]" in text, f"the {name} log shows headers"
        assert "bearer.[redacted]" in text, f"the {name} log shows subprotocols"
        assert not JWT.search(text), f"a JWT in the {name} log"
    assert ADMIN_TOKEN not in server_log


@pytest.mark.parametrize("clean", [redact, backend_redact])
def test_redaction_keeps_the_rest_of_the_line(clean: object) -> None:
    assert callable(clean)
    line = "> Sec-WebSocket-Protocol: agent-chat.v1, bearer.abc.def-ghi; and eyJa.b.c-d end"
    assert clean(line) == (
        "> Sec-WebSocket-Protocol: agent-chat.v1, bearer.[redacted]; and [redacted] end"
    )
