"""A ``Report`` as PDF: fpdf2 for the layout, matplotlib PNGs for the charts, no browser.

Text is set in DejaVu Sans when its TrueType files are present (every
character prints); otherwise in the PDF core font Helvetica, with the text
made Latin-1-safe first (``—`` -> ``-``, ``∞`` -> ``inf``, anything else
unknown -> ``?``), because core fonts cannot show more.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from dashboard.report import locations
from dashboard.report import tables as t
from dashboard.report.figures import frames
from dashboard.report.model import Report
from dashboard.report.plots import chart_pngs

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LATIN1 = str.maketrans({
    "\u2014": "-", "\u2013": "-", "\u2212": "-", "\u2264": "<=", "\u2265": ">=", "\u221e": "inf",
    "\u2192": "->", "\u2026": "...", "\u2018": "'", "\u2019": "'", "\u201c": '"',
    "\u201d": '"', "\u2713": "ok", "\u2717": "x",
})  # fmt: skip
VERDICT_COLOURS = {"PASS": (27, 94, 32), "FAIL": (183, 28, 28), "INSUFFICIENT DATA": (230, 81, 0)}
STATUS_COLOURS = {"met": (27, 94, 32), "breached": (183, 28, 28), "no data": (117, 117, 117)}
GREY = (240, 240, 240)


class _Pdf(FPDF):
    def __init__(self, report: Report, font: Path | None) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        self.unicode = font is not None and font.is_file()
        if font is not None and self.unicode:
            bold = font.with_name(font.stem + "-Bold" + font.suffix)
            self.add_font("Body", "", str(font))
            self.add_font("Body", "B", str(bold if bold.is_file() else font))
            self.body_font = "Body"
        else:
            self.body_font = "Helvetica"
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=15)

    def text_of(self, text: object) -> str:
        """``text`` as this font can print it."""
        plain = str(text)
        if self.unicode:
            return plain
        return plain.translate(LATIN1).encode("latin-1", "replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(self.body_font, "", 7)
        self.set_text_color(117, 117, 117)
        line = f"{t.TITLE} · verdict {self.report.verdict} · page {self.page_no()}/{{nb}}"
        self.cell(0, 5, self.text_of(line), align="C")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str, size: float = 12) -> None:
        if self.get_y() > self.h - 40:
            self.add_page()
        self.ln(3)
        self.set_font(self.body_font, "B", size)
        self.multi_cell(0, size * 0.5, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def para(self, text: str, size: float = 8.5) -> None:
        self.set_font(self.body_font, "", size)
        self.multi_cell(
            0, size * 0.48, self.text_of(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        self.ln(1)

    def labelled(self, label: str, text: str, size: float = 8.5) -> None:
        """``label:`` in bold, then ``text``, as one flowing paragraph."""
        self.set_font(self.body_font, "B", size)
        self.write(size * 0.48, self.text_of(f"{label}: "))
        self.set_font(self.body_font, "", size)
        self.write(size * 0.48, self.text_of(text))
        self.ln(size * 0.48 + 1)

    def grid(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        size: float = 7.0,
        status_col: int = -1,
    ) -> None:
        self.set_font(self.body_font, "", size)
        style = FontFace(emphasis="BOLD", fill_color=GREY)
        with self.table(
            col_widths=tuple(widths),
            text_align="LEFT",
            line_height=size * 0.5,
            headings_style=style,
            padding=0.8,
            width=self.epw,
            v_align="TOP",
        ) as table:
            for n, row in enumerate([header, *rows]):
                cells = table.row()
                for i, cell in enumerate(row):
                    colour = STATUS_COLOURS.get(str(cell)) if n and i == status_col else None
                    cells.cell(self.text_of(cell), style=FontFace(color=colour) if colour else None)
        self.ln(2)


def _summary(pdf: _Pdf, report: Report) -> None:
    main = report.main
    pdf.set_font(pdf.body_font, "B", 16)
    pdf.cell(0, 9, pdf.text_of(t.TITLE), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*VERDICT_COLOURS.get(report.verdict, (0, 0, 0)))
    pdf.set_font(pdf.body_font, "B", 14)
    pdf.cell(0, 8, pdf.text_of(f"Verdict: {report.verdict}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(pdf.body_font, "", 9.5)
    pdf.multi_cell(
        0, 4.6, pdf.text_of(t.reason_line(report)), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)
    pdf.para(
        f"Window: {t.window_text(main.since, main.until)}\n"
        f"Filters: {t.filters_text(report)}\n"
        f"Records: {t.rounds_text(main)}\n"
        f"Minimum coverage for PASS: {report.evaluation.min_coverage:g} %"
    )
    pdf.heading("Objectives")
    pdf.grid(
        t.OBJECTIVE_HEADER,
        t.objective_rows(report.evaluation, report.settings.slos),
        (26, 34, 16, 14, 15, 24, 14, 14, 15),
        status_col=4,
    )
    pdf.heading(t.PROBES_HEADING)
    if main.probes:
        pdf.grid(t.PROBE_HEADER, t.probe_rows(main), (36, 92, 40, 14))
    else:
        pdf.para(t.NO_PROBES_TEXT)


def _locations(pdf: _Pdf, report: Report) -> None:
    if len(report.locations) < 2:
        return
    pdf.heading("Objectives by location")
    pdf.para(locations.EXPLAINED)
    pdf.grid(
        locations.HEADER,
        locations.rows(report.locations),
        (40, 40, 25, 25, 25, 25),
        status_col=3,
    )


def _baseline(pdf: _Pdf, report: Report) -> None:
    if report.baseline is None:
        return
    base = report.baseline
    pdf.heading("Comparison with the baseline")
    pdf.para(
        f"Baseline: {t.window_text(base.since, base.until)}; {t.rounds_text(base)}\n"
        f"Baseline verdict: {base.evaluation.verdict} — {base.evaluation.reason}"
    )
    pdf.grid(t.COMPARISON_HEADER, t.comparison_rows(report), (40, 30, 38, 38, 34))


def _charts(pdf: _Pdf, report: Report) -> None:
    pdf.heading("Charts")
    for _title, png in chart_pngs(frames(report)):
        height = pdf.epw * 2.6 / 7.5
        if pdf.get_y() + height > pdf.h - pdf.b_margin:
            pdf.add_page()
        pdf.image(png, x=pdf.l_margin, w=pdf.epw, h=height)
        pdf.ln(2)


def _failures(pdf: _Pdf, report: Report) -> None:
    pdf.heading(t.FAILURES_HEADING)
    if report.empty:
        pdf.para("No data: no round or session was recorded in this window.")
        return
    if not report.failures:
        pdf.para(t.no_failures_text(report))
        return
    for group in report.failures:
        pdf.heading(t.group_title(group), size=10)
        pdf.grid(t.FAILURE_HEADER, t.failure_rows(group), (30, 22, 40, 30, 58))
        if note := t.group_note(group):
            pdf.para(note)


def _notes(pdf: _Pdf, report: Report) -> None:
    pdf.heading("Maintenance windows and annotations")
    widths = (20, 32, 32, 36, 60)
    if report.maintenance:
        pdf.para("Maintenance windows excluded from the SLO maths:")
        pdf.grid(t.ANNOTATION_HEADER, t.annotation_rows(report.maintenance), widths)
    else:
        pdf.para("No maintenance window overlaps this window.")
    pdf.para(t.excluded_text(report.evaluation))
    others = [a for a in report.annotations if a.kind != "maintenance"]
    if others:
        pdf.para("Deploy and incident annotations in the window:")
        pdf.grid(t.ANNOTATION_HEADER, t.annotation_rows(others), widths)
    else:
        pdf.para("No deploy or incident annotation in this window.")


def pdf_bytes(report: Report, *, font: Path | None = DEJAVU) -> bytes:
    """The report as a PDF document; ``font=None`` forces the Latin-1 core-font fallback."""
    pdf = _Pdf(report, font)
    pdf.set_title(pdf.text_of(f"{t.TITLE}: {report.verdict}"))
    pdf.set_subject(pdf.text_of(t.headline(report)))
    pdf.set_creator(f"slawatch {report.version}")
    pdf.set_creation_date(report.generated_at)
    pdf.add_page()
    _summary(pdf, report)
    _locations(pdf, report)
    _baseline(pdf, report)
    _charts(pdf, report)
    _failures(pdf, report)
    _notes(pdf, report)
    pdf.heading("How each figure is computed")
    pdf.grid(
        ("objective", "SLI", "definition"), t.definition_rows(report.settings.slos), (32, 40, 108)
    )
    for name, text in t.METHODS:
        pdf.labelled(name, text)
    pdf.heading("Facts of this report")
    pdf.grid(("fact", "value"), t.fact_rows(report), (60, 120))
    return bytes(pdf.output())
