"""Figures as every output prints them: percentages, burn rates, error budgets.

One module, so the gate's table, its verdict line, the dashboard and the
reports round and word the same figure alike. Percentages are rounded down
(a breached 99.89... never prints as a met 99.9); burn is always written
``66.7x burn rate``.
"""

from __future__ import annotations

import math


def percent(value: float | None, digits: int = 2) -> str:
    """``99.95`` -> ``"99.95 %"``; None -> ``"—"``. Rounded down, so a breach never reads as met."""
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "-∞ %" if value < 0 else "∞ %"
    scale = 10**digits
    # round first so float noise (99.95 * 100 = 9994.999...) does not cost a hundredth
    return f"{math.floor(round(value * scale, 6)) / scale:.{digits}f} %"


def burn(value: float | None) -> str:
    """A burn rate: ``"0.50x"``, ``"∞"`` when a 100 % objective saw any bad event."""
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:,.2f}x"


def budget(value: float | None, *, with_burn: bool = True) -> str:
    """Error budget left as a share of the whole budget: ``"63.2 %"``, or how far overspent.

    Overspent reads ``exhausted (burn rate 66.70x)``: the burn rate is ``1 - budget``,
    the same figure the burn-rate column shows; beside that column (``with_burn``
    False) it is just ``exhausted``, so the figure is not said twice.
    """
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "exhausted (no bad event allowed)" if value < 0 else "∞"
    if value < 0:
        return f"exhausted (burn rate {burn(1 - value)})" if with_burn else "exhausted"
    return f"{value * 100:.1f} %"


def without_reason(reason: str | None, error: str) -> str:
    """A session's error without its leading ``reason: `` (shown beside the reason already).

    ``("closed_abnormally", "closed_abnormally: closed with 1011")`` -> ``"closed with 1011"``.
    """
    if reason and error.startswith(f"{reason}: "):
        return error[len(reason) + 2 :]
    return error
