"""Each format: hostile text stays text, HTML is self-contained, PDF and JSON are well formed."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zlib
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dashboard.report.model import Report
from dashboard.report.pdf import pdf_bytes
from dashboard.report.render import build_report, render, rounds_csv
from probes.records import Annotation
from probes.results import ResultStore
from tests.report.conftest import (
    HOSTILE,
    HOUR,
    T0,
    failed_session,
    good_hour,
    round_,
    save,
    session,
    settings,
)

RAW_SCRIPT = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    """A failing hour whose user id, close reason, error and annotation are hostile text."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'slawatch.db'}"
    with ResultStore.open(url) as store:
        yield hostile_report(store)


def hostile_report(store: ResultStore) -> Report:
    rounds = good_hour("r")
    at = rounds[3].started_at
    bad = failed_session("bad", HOSTILE, at, close_reason=HOSTILE, error="-2+3 " + HOSTILE)
    rounds[3] = round_("bad", at, (bad, session("bad", "=SUM(A1:A9)", at)), growth_mb=80.0)
    save(store, rounds)
    store.add_annotation(Annotation("deploy", T0 + timedelta(minutes=5), None, HOSTILE))
    store.add_annotation(
        Annotation(
            "maintenance",
            T0 + timedelta(minutes=50),
            T0 + timedelta(minutes=55),
            "db upgrade " + HOSTILE,
        )
    )
    return build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)


class _Tags(HTMLParser):
    """Every start tag with its attributes (script bodies are not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_escapes_every_hostile_text(hostile: Report) -> None:
    page = render(hostile, "html").decode()
    assert RAW_SCRIPT not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # the user id, in a table
    assert page.count("&lt;script&gt;alert") >= 4  # user, error, close reason's error, notes


def test_markdown_makes_hostile_text_literal(hostile: Report) -> None:
    md = render(hostile, "md").decode()
    assert RAW_SCRIPT not in md
    assert "\\<script\\>" in md


def test_html_fetches_nothing_from_outside(hostile: Report) -> None:
    page = render(hostile, "html").decode()
    parser = _Tags()
    parser.feed(page)
    names = [tag for tag, _ in parser.tags]
    assert not {"link", "img", "iframe", "object", "embed"} & set(names)
    for tag, attrs in parser.tags:
        for name in ("src", "href", "action", "data", "poster"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value)
    assert "@import" not in page
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all("src" not in attrs for attrs in scripts)
    assert page.count("plotly.js v") == 1  # the library is inlined once, with the first chart


def test_html_is_one_document_in_the_issue_order(hostile: Report) -> None:
    page = render(hostile, "html").decode()
    order = [
        "Verdict: FAIL",
        "<h2>Objectives",
        "<h2>Charts",
        "<h2>Failing and breaching rounds",
        "<h2>Maintenance windows",
        "<h2>How each figure",
        "<h2>Facts of this report",
    ]
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def _pdf_text(data: bytes) -> str:
    """The text of every page's content stream (core fonts write text literally)."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            out.append(zlib.decompress(match.group(1)).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(out)


def test_pdf_states_the_verdict(hostile: Report, tmp_path: Path) -> None:
    data = render(hostile, "pdf")
    assert data.startswith(b"%PDF-")
    assert b"/Title (slawatch compliance report: FAIL)" in data
    if shutil.which("pdftotext"):
        path = tmp_path / "report.pdf"
        path.write_bytes(data)
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert "Verdict: FAIL" in text
        assert RAW_SCRIPT in text  # a PDF shows the text as it was; nothing runs it
        assert "Facts of this report" in text


def test_pdf_without_its_unicode_font_falls_back_to_latin1_text(
    hostile: Report, tmp_path: Path
) -> None:
    data = pdf_bytes(hostile, font=tmp_path / "no-such-font.ttf")
    assert data.startswith(b"%PDF-")
    text = _pdf_text(data)
    assert "Verdict: FAIL" in text
    assert "/BaseFont /Helvetica" in data.decode("latin-1")
    assert "(inf) Tj" in text  # the 100 % memory objective's burn rate: "∞" made Latin-1


def test_json_carries_every_figure_with_stable_types(hostile: Report) -> None:
    def no_constants(name: str) -> None:
        raise AssertionError(f"bare {name} in JSON")

    doc = json.loads(render(hostile, "json"), parse_constant=no_constants)
    assert doc["verdict"] == "FAIL"
    for key in (
        "objectives",
        "window",
        "rounds",
        "failures",
        "annotations",
        "facts",
        "series",
        "maintenance",
    ):
        assert key in doc
    assert doc["baseline"] is None
    names = [o["name"] for o in doc["objectives"]]
    assert names == [s.name for s in settings().slos]
    for o in doc["objectives"]:
        assert isinstance(o["name"], str) and isinstance(o["sli"], str)
        assert o["status"] in ("met", "breached", "no data")
        assert isinstance(o["objective"], float)
        assert isinstance(o["samples"], int) and isinstance(o["coverage"], float)
        for key in ("value", "budget_left", "burn_rate"):
            assert (
                o[key] is None
                or isinstance(o[key], float | int)
                or o[key] in ("Infinity", "-Infinity")
            )
    memory = doc["objectives"][names.index("memory-growth")]
    assert memory["status"] == "breached"
    assert memory["burn_rate"] == "Infinity" and memory["budget_left"] == "-Infinity"
    assert doc["rounds"] == {
        "passed": 5,
        "failed": 1,
        "error": 0,
        "skipped": 0,
        "total": 6,
        "with_data": 6,
    }
    reasons = {f["reason"]: f for f in doc["failures"]}
    assert reasons["closed_abnormally"]["sessions"] == 1
    assert reasons["closed_abnormally"]["listed"][0]["users"] == [HOSTILE]
    assert reasons["closed_abnormally"]["listed"][0]["close_codes"] == [1011]
    facts = doc["facts"]
    assert facts["records"] == 18 and facts["sessions"] == 12 and facts["rounds"] == 6
    assert re.fullmatch(r"[0-9a-f]{64}", facts["digest"])
    assert facts["config_digest"] == settings().digest
    assert facts["slawatch_version"]
    assert [a["kind"] for a in doc["maintenance"]] == ["maintenance"]
    assert len(doc["annotations"]) == 2


def test_csv_cells_never_start_a_formula(hostile: Report) -> None:
    sessions = list(csv.DictReader(io.StringIO(render(hostile, "csv").decode())))
    rounds = list(csv.DictReader(io.StringIO(rounds_csv(hostile).decode())))
    assert len(sessions) == 12 and len(rounds) == 6
    users = {row["user_id"] for row in sessions}
    assert "'=SUM(A1:A9)" in users and "=SUM(A1:A9)" not in users
    bad = next(row for row in sessions if row["run_id"] == "bad" and row["outcome"] == "failed")
    assert bad["error"].startswith("'-2+3")
    for row in [*sessions, *rounds]:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or _number(cell)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
