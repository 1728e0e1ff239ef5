"""Stores filled by real probe rounds against the built-in backend, and the app under AppTest.

The backend runs as a subprocess on port 0 (one per fault set, with
SLAWATCH_JWT_SECRET in its environment: ``tests/support``); rounds are
``probes.target.round.run_round`` records (the same secret) saved with
``ResultStore.save_round``. The seeding is session-scoped: every page test
reads the same files.

The app gets its store the way ``slawatch dashboard`` passes it: the words
after ``--`` on Streamlit's command line, i.e. ``sys.argv[1:]`` inside the app.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from probes.records import RoundResult
from probes.results import ResultStore
from tests.support import probing
from tests.support.backend_process import ROOT, start_backends, stop_backends

APP = ROOT / "dashboard" / "app.py"
PAGES = ("pages/live.py", "pages/stability.py", "pages/reports.py", "pages/settings.py")


async def probe_rounds(target: str, count: int) -> list[RoundResult]:
    """``count`` real rounds, one after another (the tests' shared probe settings)."""
    return [await probing.probe_round(target, runner="test-runner") for _ in range(count)]


def save(url: str, rounds: list[RoundResult]) -> None:
    with ResultStore.open(url) as store:
        for r in rounds:
            store.save_round(r)


@dataclass(frozen=True)
class Seeded:
    """Store URLs: ``clean`` (a healthy backend only) and ``faulty`` (healthy, then a
    round closed with 1011 by another backend, then one with cross-talk: the newest)."""

    clean: str
    faulty: str
    faulty_path: Path
    cross_talk_target: str


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("dashboard-stores")
    healthy, leaky, crashing = start_backends(tmp, (), ("cross_talk=1.0",), ("close_1011=1.0",))
    try:
        clean = asyncio.run(probe_rounds(healthy.url, 2))
        crashed = asyncio.run(probe_rounds(crashing.url, 1))
        bad = asyncio.run(probe_rounds(leaky.url, 1))
    finally:
        stop_backends([healthy, leaky, crashing])
    clean_url = f"sqlite:///{tmp / 'clean.db'}"
    faulty_path = tmp / "faulty.db"
    save(clean_url, clean)
    save(f"sqlite:///{faulty_path}", [*clean, *crashed, *bad])
    yield Seeded(clean_url, f"sqlite:///{faulty_path}", faulty_path, leaky.url)


@pytest.fixture
def bind_address() -> Iterator[Callable[[str | None], None]]:
    """Set Streamlit's ``server.address`` (what ``--server.address`` sets) for the test."""
    before = st_config.get_option("server.address")

    def bind(address: str | None) -> None:
        st_config.set_option("server.address", address)

    bind("127.0.0.1")
    yield bind
    st_config.set_option("server.address", before)


AppFactory = Callable[..., AppTest]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, bind_address: Any) -> AppFactory:
    """``app(url, page=..., config=...)``: an AppTest of dashboard/app.py started like the CLI."""

    def make(url: str, page: str | None = None, config: Path | None = None) -> AppTest:
        argv = [str(APP), "--db", url]
        if config is not None:
            argv += ["--config", str(config)]
        monkeypatch.setattr(sys, "argv", argv)
        at = AppTest.from_file(str(APP), default_timeout=60)
        if page is not None:
            at.switch_page(page)
        return at

    return make
