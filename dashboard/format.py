"""Words and numbers as the dashboard and the reports print them.

Percentages, burn rates and budgets come from ``probes.judging.texts`` (shared with
the CLI), re-exported here.

No Streamlit import: the report renderer uses the same labels. Text that came
from a probe, a target or a person (user ids, errors, annotation notes) is
escaped before it reaches Markdown or a plotly label, because both would
otherwise interpret it (links, images, HTML tags).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from datetime import datetime

from probes.judging.slo import BurnRateAlert
from probes.judging.texts import budget as shared_budget
from probes.judging.texts import burn as burn
from probes.judging.texts import percent as percent

CLOSE_CODE_NAMES: dict[int, str] = {
    1000: "normal",
    1001: "going away",
    1006: "dropped",
    1008: "policy",
    1009: "too big",
    1011: "internal error",
    1012: "restart",
}
REFUSED_LABEL = "none (refused)"

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$])")


def close_code_label(code: object) -> str:
    """``1011`` -> ``"1011 internal error"``; missing (no WebSocket at all) -> ``"none (refused)"``.

    Missing may be None, NaN or pandas' NA, depending on the column it came from.
    """
    try:
        number = int(code)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return REFUSED_LABEL
    return f"{number} {CLOSE_CODE_NAMES.get(number, 'other')}"


def md_escape(text: object) -> str:
    """``text`` made literal for Streamlit Markdown: no links, images, emphasis or HTML."""
    plain = " ".join(str(text).split())  # one line: no headings or lists from newlines
    return _MARKDOWN_SPECIAL.sub(r"\\\1", plain)


def md_code(text: object) -> str:
    """``text`` as an inline code span: shown verbatim, nothing inside is interpreted."""
    plain = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", plain)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if plain.startswith("`") or plain.endswith("`") or not plain else ""
    return f"{fence}{pad}{plain}{pad}{fence}"


def plot_text(text: object) -> str:
    """``text`` made literal for a plotly label, which understands a subset of HTML."""
    return html.escape(str(text), quote=False)


def budget(value: float | None) -> str:
    """An error budget beside its burn rate (every dashboard and report view shows both)."""
    return shared_budget(value, with_burn=False)


def ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:,.0f} ms"


def duration(seconds: float) -> str:
    """``86400`` -> ``"1d"``; the way the config writes durations."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def utc(moment: datetime | None) -> str:
    """``2025-01-02 03:04:05 UTC``; every time on the dashboard is UTC."""
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def window(seconds: float) -> str:
    """A burn-rate window: ``3600`` -> ``"1h"``, ``300`` -> ``"5m"``."""
    return duration(seconds)


def alert_summary(alerts: Sequence[BurnRateAlert]) -> tuple[str, str, str]:
    """An objective's burn-rate alert state, a short line for a tile and the full detail.

    ``firing`` when any rule fires (the first, most urgent, is the short line),
    ``ok`` when every rule had samples enough and none fires, ``insufficient
    samples`` when no rule had.
    """
    firing = [a for a in alerts if a.state == "firing"]
    if firing:
        detail = "; ".join(
            f"{a.severity}: {burn(a.long_burn)} over {window(a.long_window_s)} and "
            f"{burn(a.short_burn)} over {window(a.short_window_s)} (fires at {a.factor:g}x)"
            for a in firing
        )
        top = firing[0]
        short = f"{top.severity}: burning {burn(top.long_burn)} over {window(top.long_window_s)}"
        return "firing", short, detail
    if alerts and all(a.state == "ok" for a in alerts):
        return "ok", "no burn-rate alert", "every alert window has samples and none fires"
    if any(a.state == "ok" for a in alerts):
        return "ok", "no burn-rate alert", "some alert windows have too few samples"
    text = "too few samples for burn-rate alerts"
    return "insufficient samples", text, text
