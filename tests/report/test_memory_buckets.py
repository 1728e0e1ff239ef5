"""Over many rounds a report charts memory as the worst round per bucket, as the page does."""

from __future__ import annotations

import json

import pytest

from dashboard.chartdata import series
from dashboard.report.render import build_report, render
from probes.results import ResultStore
from tests.report.conftest import HOUR, T0, good_hour, round_, save, settings


def test_more_rounds_than_memory_points_chart_each_buckets_worst_round(
    store: ResultStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaky = round_("leaky", T0 + HOUR / 2 + HOUR / 60, growth_mb=97.8)
    save(store, [*good_hour("a"), leaky])
    few = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    assert len(few.series.memory) == 7 and few.series.memory_buckets == ()
    monkeypatch.setattr(series, "MEMORY_POINTS", 3)
    many = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    assert many.series.memory == ()
    worst = {b.start: b.growth_max_mb for b in many.series.memory_buckets}
    assert max(worst.values()) == pytest.approx(97.8)
    assert sum(b.rounds for b in many.series.memory_buckets) == 7
    document = json.loads(render(many, "json"))
    assert document["series"]["memory"] == []
    assert len(document["series"]["memory_buckets"]) == len(worst)
    assert "worst round per bucket" in render(many, "html").decode()
