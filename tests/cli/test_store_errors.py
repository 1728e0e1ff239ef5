"""A bad or unreachable ``--db`` is one message naming the URL (password hidden), exit 2,
in every command; read-only commands never create, migrate or write a store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from probes.cli.main import main
from probes.errors import EXIT_INPUT, StoreError
from probes.results import ResultStore
from tests.cli.conftest import slawatch
from tests.support.backend_process import SECRET
from tests.support.databases import fresh_pg_schema

PG_URL = os.environ.get("SLAWATCH_TEST_PG_URL", "")
PASSWORD = "s3cret-pw"

COMMANDS = {
    "report": ["report", "--since", "1h"],
    "export": ["export", "sessions"],
    "probe": ["probe", "--target", "ws://127.0.0.1:1/ws", "--healthz", "off"],
    "run": ["run"],
    "up": ["up", "--no-dashboard"],
    "dashboard": ["dashboard"],
}


def _missing_database() -> str:
    url = make_url(PG_URL).set(password=PASSWORD, database=f"no_such_db_{uuid.uuid4().hex[:8]}")
    return url.render_as_string(hide_password=False)


# case -> (URL, what the message must say)
CASES = {
    "not a URL": (lambda: "notaurl", "not a database URL"),
    "no driver": (
        lambda: f"mysql://user:{PASSWORD}@db.example/x",
        "no database driver for 'mysql'",
    ),
    "dead port": (
        lambda: f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/x",
        'cannot connect: connection to server at "127.0.0.1", port 1 failed: Connection refused',
    ),
    "no such database": (_missing_database, "does not exist"),
}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLAWATCH_JWT_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)  # no ./slawatch.toml, no ./data written by accident


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_store_url_is_one_message_and_exit_2(
    command: str, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if case == "no such database" and not PG_URL:
        pytest.skip("needs SLAWATCH_TEST_PG_URL")
    url, expected = CASES[case][0](), CASES[case][1]
    assert main([*COMMANDS[command], "--db", url]) == EXIT_INPUT
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert expected in err
    assert PASSWORD not in err
    if case != "not a URL":
        assert make_url(url).render_as_string(hide_password=True) in err


def test_the_console_script_prints_no_traceback_for_a_bad_url() -> None:
    done = slawatch("export", "sessions", "--db", f"mysql://u:{PASSWORD}@h/db")
    assert done.returncode == EXIT_INPUT
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr
    assert done.stderr.startswith("slawatch: results store mysql://u:***@h/db: no database driver")


@pytest.mark.parametrize("command", ["report", "export"])
def test_read_only_commands_never_create_a_store(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "no" / "such" / "dir" / "x.db"
    assert main([*COMMANDS[command], "--db", f"sqlite:///{path}"]) == EXIT_INPUT
    assert f"no results store at {path}" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


@pytest.fixture
def empty_schema() -> Iterator[str]:
    """A PostgreSQL schema without any slawatch table."""
    if not PG_URL:
        pytest.skip("needs SLAWATCH_TEST_PG_URL")
    with fresh_pg_schema() as url:
        yield url


@pytest.mark.parametrize("command", ["report", "export"])
def test_read_only_commands_create_no_tables_in_an_empty_database(
    command: str, empty_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*COMMANDS[command], "--db", empty_schema]) == EXIT_INPUT
    assert "no results store at" in capsys.readouterr().err
    engine = create_engine(empty_schema)
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        ).scalar_one()
    engine.dispose()
    assert tables == 0


@pytest.mark.parametrize("command", ["report", "export"])
def test_read_only_commands_never_migrate(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with ResultStore(url) as store:
        store.upgrade("0002")
    assert main([*COMMANDS[command], "--db", url]) == EXIT_INPUT
    assert "is at schema revision 0002" in capsys.readouterr().err
    with ResultStore(url) as store:
        assert store.schema_version() == "0002"


def test_a_read_only_store_cannot_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    ResultStore.open(url).close()
    with ResultStore.open_read_only(url) as store, pytest.raises(StoreError, match="read-only"):
        store.upgrade()


@pytest.mark.parametrize("command", ["probe", "run", "report", "export"])
def test_a_store_a_newer_slawatch_migrated_is_one_message_for_writers_and_readers(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A revision this code does not know was an Alembic traceback, exit 1 (the gate's
    # "breached"): seen opening a stop 21 store with the slawatch before it.
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    ResultStore.open(url).close()
    raw = create_engine(url)
    with raw.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    raw.dispose()
    monkeypatch.setenv("SLAWATCH_JWT_SECRET", SECRET)
    assert main([*COMMANDS[command], "--db", url]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "is at schema revision 9999, which this slawatch does not know" in err
    with ResultStore(url) as store:
        assert store.schema_version() == "9999"  # left as it was
