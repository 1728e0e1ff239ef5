"""Opening the results store: every way a URL can fail, as one message naming the URL.

Exit 2 (``StoreUrlError``, fix the URL): not an SQLAlchemy URL, a dialect whose
driver is not installed, a server that refuses the connection or the login, a
database that does not exist, and, for read-only commands, a store that is not
there (no file, no tables: they never create one) or is older than this slawatch.
Exit 3 (``StoreUnavailable``, the store was reached but cannot be used now): a lock
that does not clear within ``[store] lock_wait``, a full disk, a damaged file met by
a reader. The URL shown always has its password hidden.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from probes.errors import SlawatchError, StoreUnavailable, StoreUrlError

SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
# SQLite's words for a file that is not (or no longer) a database.
_DAMAGED = ("file is not a database", "database disk image is malformed", "malformed")
_LOCKED = ("database is locked", "database table is locked", "lock timeout", "lock_timeout")
_FULL = ("database or disk is full", "no space left on device", "disk full")


def shown(url: str | URL) -> str:
    """``url`` for a message: the password hidden, even when the text does not parse."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def parse(url: str | URL) -> URL:
    """The parsed URL, or ``StoreUrlError`` saying why it cannot be one."""
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreUrlError(
            f"results store {shown(url)!r}: not a database URL (expected {SUPPORTED})"
        ) from None


def sqlite_path(url: URL) -> Path | None:
    """The file behind an SQLite URL; None for other databases and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def make_folder(url: URL) -> None:
    """Create the SQLite file's folder (writers only), or say why it cannot be."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUrlError(
            f"results store {shown(url)}: cannot create the folder {path.parent}: {exc.strerror}"
        ) from None


def must_exist(url: URL) -> None:
    """For read-only commands: an SQLite file that is not there is "no results store"."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise StoreUrlError(f"no results store at {path} ({shown(url)}): nothing to read")


def reason(exc: BaseException, url: URL) -> str:
    """One line saying what went wrong, from a driver's error (the password removed)."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = lines[0] if lines else type(cause).__name__
    text = re.sub(r"^connection failed:\s*", "", text)
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


def is_locked(exc: BaseException) -> bool:
    """A lock held by someone else, or a lock wait that timed out: worth a retry."""
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code == "55P03" or any(w in reason_text(exc) for w in _LOCKED)


def is_lost_connection(exc: BaseException) -> bool:
    """The server went away or refused a new connection (PostgreSQL): worth a retry."""
    return (isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)) or (
        getattr(getattr(exc, "orig", None), "sqlstate", "") or ""
    ).startswith(("08", "57P"))


def is_damaged(exc: BaseException) -> bool:
    return any(w in reason_text(exc) for w in _DAMAGED)


def is_full(exc: BaseException) -> bool:
    return any(w in reason_text(exc) for w in _FULL)


def reason_text(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).lower()


def connect_error(exc: BaseException, url: URL) -> SlawatchError:
    """The error a user sees when the first connection to ``url`` fails."""
    where = f"results store {shown(url)}"
    if isinstance(exc, NoSuchModuleError | ImportError):
        return StoreUrlError(
            f"{where}: no database driver for {url.drivername!r} is installed "
            f"(expected {SUPPORTED})"
        )
    if is_locked(exc):
        return StoreUnavailable(f"{where}: locked by another process: {reason(exc, url)}")
    if is_full(exc):
        return StoreUnavailable(f"{where}: the disk is full: {reason(exc, url)}")
    if is_damaged(exc):
        return StoreUnavailable(f"{where}: the file is damaged: {reason(exc, url)}")
    return StoreUrlError(f"{where}: cannot connect: {reason(exc, url)}")


def check_connects(engine: Engine, url: URL) -> None:
    """Open one connection now, so that a bad URL fails here with one clear message."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except (SQLAlchemyError, ImportError) as exc:
        raise connect_error(exc, url) from None


def check_schema(version: str | None, head: str, url: URL, known: bool = True) -> None:
    """For read-only commands: the store has our tables, at the revision this code reads.

    ``known``: whether ``version`` is one of this code's revisions (else a newer slawatch
    migrated the store)."""
    if version is None:
        raise StoreUrlError(
            f"no results store at {shown(url)}: the database has no slawatch tables "
            "(a writer such as `slawatch run` or `slawatch probe` creates them)"
        )
    if not known:
        raise StoreUrlError(
            f"results store {shown(url)} is at schema revision {version}, which this "
            f"slawatch does not know (it reads revision {head}): a newer slawatch has "
            "migrated it; upgrade this one to read it"
        )
    if version != head:
        raise StoreUrlError(
            f"results store {shown(url)} is at schema revision {version}, this slawatch "
            f"reads {head}: run a writer (`slawatch run` or `slawatch probe`) once to "
            "migrate it, then read again"
        )


def unavailable(exc: BaseException, url: URL) -> StoreUnavailable:
    """A database error met after the store was opened, as the user's message (exit 3)."""
    where = f"results store {shown(url)}"
    if is_full(exc):
        return StoreUnavailable(f"{where}: the disk is full: {reason(exc, url)}")
    if is_damaged(exc):
        return StoreUnavailable(f"{where}: the file is damaged: {reason(exc, url)}")
    return StoreUnavailable(f"{where}: {reason(exc, url)}")


def preflight(url: str | URL, *, create_folder: bool = True) -> URL:
    """Before a writer measures anything: the URL parses, has a driver and connects.

    So a bad ``--db`` fails in a second (exit 2) instead of after the rounds. The
    dashboard checks the same (without ``create_folder``) before it starts.
    Creates the SQLite file's folder, as the writer would (a damaged file is the
    writer's to move aside, so SQLite is not opened here); no schema is touched.
    """
    from probes.results.engine import connect

    parsed = parse(url)
    if create_folder:
        make_folder(parsed)
    try:
        reader, _ = connect(parsed, 1000, read_only=True)
    except (ImportError, SQLAlchemyError) as exc:
        raise connect_error(exc, parsed) from None
    try:
        if parsed.get_backend_name() != "sqlite":
            check_connects(reader, parsed)
    finally:
        reader.dispose()
    return parsed
