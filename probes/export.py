"""Raw evidence out: session and round rows as JSON or formula-safe CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

SESSION_FIELDS: tuple[str, ...] = (
    "run_id",
    "probe",
    "target",
    "profile",
    "runner",
    "user_id",
    "auth_mode",
    "started_at",
    "connect_ms",
    "first_event_ms",
    "completion_ms",
    "total_ms",
    "close_code",
    "close_reason",
    "http_status",
    "events",
    "missing_events",
    "order_ok",
    "foreign_events",
    "outcome",
    "reason",
    "error",
)
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@")
# Control characters (C0, DEL) and the line separators some readers honour, written as
# visible escapes: a bare CR inside a cell is not quoted by csv.writer with "\n" line
# endings, and a spreadsheet would start a new row (with a live formula) there.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(32), 0x7F)} | {
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def inert(cell: str) -> str:
    """Make a CSV cell plain text: control characters escaped (``\\r``, ``\\x00``), and a
    cell a spreadsheet would run as a formula (after any leading spaces) prefixed with
    ``'`` (OWASP advice). Only text a target or a config can choose goes through here."""
    if not cell.isprintable():  # every character of _CONTROLS is unprintable: else a no-op
        cell = cell.translate(_CONTROLS)
    return "'" + cell if cell.lstrip(" ").startswith(_FORMULA_START) else cell


def _joined(value: list[Any] | tuple[Any, ...]) -> str:
    # Joined, then escaped once: the escapes are per character and "|" has none.
    return inert("|".join(map(str, value)))


def _number(value: int | float) -> int | float:
    return value


def _empty(_: None) -> str:
    return ""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _other(value: Any) -> str:
    if isinstance(value, bool):
        return _flag(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return _joined(value)
    return inert(str(value))


# By exact type: a year of evidence is ~10^7 cells, and one lookup is cheaper than a chain
# of isinstance checks. Subclasses (an IntEnum, a str subclass) go the long way (_other).
_CELLS: dict[type, Callable[[Any], Any]] = {
    str: inert,
    type(None): _empty,
    int: _number,
    float: _number,
    bool: _flag,
    list: _joined,
    tuple: _joined,
}


def write_csv(rows: Iterable[Mapping[str, Any]], fields: Sequence[str], out: TextIO) -> int:
    """Write ``rows`` with exactly ``fields`` as columns; returns the row count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    cells: dict[type, Callable[[Any], Any]] = _CELLS
    other: Callable[[Any], Any] = _other
    count = 0
    for row in rows:
        values = [row.get(name) for name in fields]
        writer.writerow([cells.get(type(v), other)(v) for v in values])
        count += 1
    return count


def write_json(rows: Iterable[Mapping[str, Any]], fields: Sequence[str], out: TextIO) -> int:
    """Write ``rows`` as one JSON array of objects with exactly ``fields``."""
    out.write("[")
    count = 0
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(json.dumps({name: row.get(name) for name in fields}, default=str))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def to_text(rows: Iterable[Mapping[str, Any]], fields: Sequence[str], fmt: str) -> str:
    """Rows rendered as CSV or JSON text (used by the reports)."""
    buf = io.StringIO()
    (write_csv if fmt == "csv" else write_json)(rows, fields, buf)
    return buf.getvalue()
