"""Reports break each objective down by location (runner label)."""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from dashboard.report.pdf import pdf_bytes
from dashboard.report.render import build_report, render
from probes.records import RoundResult
from probes.results import ResultStore
from tests.report.conftest import HOUR, T0, failed_session, good_hour, save, settings


def at_location(r: RoundResult, runner: str, *, failing: bool = False) -> RoundResult:
    sessions = tuple(
        replace(failed_session(r.run_id, s.user_id, s.started_at) if failing else s, runner=runner)
        for s in r.sessions
    )
    return replace(r, runner=runner, sessions=sessions, status="failed" if failing else r.status)


def test_each_location_is_judged_alone_in_markdown_and_json(store: ResultStore) -> None:
    save(store, [at_location(r, "eu") for r in good_hour("eu")])
    save(store, [at_location(r, "us", failing=True) for r in good_hour("us")])
    report = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    assert [loc.runner for loc in report.locations] == ["eu", "us"]
    text = render(report, "md").decode()
    section = text.split("## Objectives by location")[1].split("\n## ")[0]
    assert "| session-success | eu | 100.00 % | met |" in section
    assert "| session-success | us | 0.00 % | breached |" in section
    document = json.loads(render(report, "json"))
    success = {
        runner: next(r for r in results if r["name"] == "session-success")
        for runner, results in document["locations"].items()
    }
    assert {k: (v["good"], v["valid"], v["status"]) for k, v in success.items()} == {
        "eu": (12, 12, "met"),
        "us": (0, 12, "breached"),
    }


def two_locations(store: ResultStore) -> Any:
    save(store, [at_location(r, "eu") for r in good_hour("eu")])
    save(store, [at_location(r, "us", failing=True) for r in good_hour("us")])
    return build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)


class _Rows(HTMLParser):
    """The cell texts of every table row after the heading ``Objectives by location``."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.heading = ""
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "h2":
            self.heading = ""
        if self.inside and tag == "tr":
            self.rows.append([])
        if self.inside and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self.inside = self.heading == "Objectives by location"
        if tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        self.heading += data
        if self.cell is not None:
            self.cell.append(data)


def test_html_has_objectives_by_location(store: ResultStore) -> None:
    page = render(two_locations(store), "html").decode()
    assert page.index("<h2>Objectives by location") < page.index("<h2>Charts")
    parser = _Rows()
    parser.feed(page)
    by_runner = {row[1]: row for row in parser.rows if row and row[0] == "session-success"}
    assert by_runner == {
        "eu": ["session-success", "eu", "100.00 %", "met", "12", "100.0 %"],
        "us": ["session-success", "us", "0.00 %", "breached", "12", "100.0 %"],
    }


def _pdf_strings(data: bytes) -> list[str]:
    """The strings each page shows, in order (the core font writes them literally)."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            text = zlib.decompress(match.group(1)).decode("latin-1")
        except zlib.error:
            continue
        if " Tj" in text:  # a page's text, not an image
            out += re.findall(r"\(((?:[^()\\]|\\.)*)\) Tj", text)
    return out


def test_pdf_has_objectives_by_location(store: ResultStore, tmp_path: Path) -> None:
    data = pdf_bytes(two_locations(store), font=tmp_path / "core-font-only.ttf")
    strings = _pdf_strings(data)
    section = strings[strings.index("Objectives by location") :]
    section = section[: section.index("Charts")]
    rows = [section[i : i + 6] for i, s in enumerate(section) if s == "session-success"]
    assert rows == [
        ["session-success", "eu", "100.00 %", "met", "12", "100.0 %"],
        ["session-success", "us", "0.00 %", "breached", "12", "100.0 %"],
    ]


def test_one_location_has_no_breakdown_in_html_or_pdf(store: ResultStore, tmp_path: Path) -> None:
    save(store, [at_location(r, "eu") for r in good_hour("eu")])
    report = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    assert "Objectives by location" not in render(report, "html").decode()
    strings = _pdf_strings(pdf_bytes(report, font=tmp_path / "core-font-only.ttf"))
    assert "Objectives by location" not in strings
