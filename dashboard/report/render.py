"""Compliance reports: stored records in, a verdict with its evidence out.

``build_report`` judges a window (and optionally a baseline window) with
``probes.judging.evaluation.evaluate_window``, the code ``slawatch probe --gate`` runs, and
gathers the evidence; ``render`` lays the result out as PDF, HTML, Markdown,
JSON or CSV. No Streamlit import and no
argument handling (``probes.cli.report`` is ``slawatch report``), so the CLI and
the dashboard's Reports page share all of it.

CSV is two files: the sessions go to ``-o FILE`` (or stdout), the rounds to
``FILE.rounds.csv`` beside it (``rounds_csv_path``). The digest of the records
is SHA-256 over the two files' bytes, sessions first.
"""

from __future__ import annotations

from pathlib import Path

from dashboard.report.model import Report, build_report
from dashboard.report.text import json_document, json_text, markdown

__all__ = [
    "FORMATS",
    "Report",
    "build_report",
    "json_document",
    "render",
    "rounds_csv_path",
]

FORMATS = ("pdf", "html", "md", "json", "csv")
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html",
    "md": "text/markdown",
    "json": "application/json",
    "csv": "text/csv",
}


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` as bytes (UTF-8 for text); for ``csv``, the sessions file."""
    # matplotlib, fpdf2 and plotly load only for the formats that draw charts:
    # the JSON a release pipeline asks for should not wait for them.
    if fmt == "pdf":
        from dashboard.report.pdf import pdf_bytes

        return pdf_bytes(report)
    if fmt == "html":
        from dashboard.report.html_page import html_document

        return html_document(report).encode("utf-8")
    if fmt == "md":
        return markdown(report).encode("utf-8")
    if fmt == "json":
        return json_text(report).encode("utf-8")
    if fmt == "csv":
        return report.main.evidence.sessions_csv.encode("utf-8")
    raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")


def rounds_csv(report: Report) -> bytes:
    """The rounds file of the CSV evidence."""
    return report.main.evidence.rounds_csv.encode("utf-8")


def rounds_csv_path(path: Path) -> Path:
    """Where the rounds CSV goes: ``report.csv`` -> ``report.rounds.csv``."""
    stem = path.name[: -len(".csv")] if path.name.lower().endswith(".csv") else path.name
    return path.with_name(f"{stem}.rounds.csv")
