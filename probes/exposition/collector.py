"""``StoreCollector``: the ``/metrics`` families, read from the store at every scrape.

A custom ``prometheus_client`` collector: nothing is counted in process memory,
so the counters are the store's (monotonic across exporter restarts, and one
round counted once however many runners write into the store). Every series
carries ``probe``, ``target`` and ``runner``; no sample has a timestamp (the
last round's time is a gauge of its own); units are seconds and bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from probes.config import Settings
from probes.exposition import slo_series
from probes.results import DATABASE_ERRORS, ResultStore
from probes.results.exposition import SECONDS_BUCKETS, SeriesRow

log = logging.getLogger(__name__)
LABELS = ["probe", "target", "runner"]
# stored metric -> (exposed name without _total, its own label, help)
COUNTERS = {
    "ws_sessions": ("slawatch_ws_sessions", None, "Probe WebSocket sessions run."),
    "ws_sessions_failed": ("slawatch_ws_sessions_failed", "reason", "Sessions failed, by reason."),
    "ws_close_codes": ("slawatch_ws_close_codes", "code", "Sessions by received close code."),
    "ws_handshake_refusals": (
        "slawatch_ws_handshake_refusals", "status", "Handshakes refused, by HTTP status.",
    ),
    "ws_msgs_sent": ("slawatch_ws_msgs_sent", None, "WebSocket messages sent by the probe."),
    "ws_msgs_received": ("slawatch_ws_msgs_received", None, "WebSocket messages received."),
    "isolation_foreign_events": (
        "slawatch_isolation_foreign_events", None, "Events received that belong to another user.",
    ),
    "rounds": ("slawatch_rounds", None, "Probe rounds, every status (skipped included)."),
    "rounds_skipped": ("slawatch_rounds_skipped", None, "Scheduled rounds that could not start."),
}  # fmt: skip
HISTOGRAMS = {
    "ws_connecting": ("slawatch_ws_connecting_seconds", None, "Time to open the WebSocket."),
    "first_event": ("slawatch_first_event_seconds", None, "Chat sent to first event."),
    "completion": ("slawatch_completion_seconds", None, "Chat sent to agent_completed."),
    "db_operation": (
        "slawatch_db_operation_seconds", "operation", "Database round trip, by operation.",
    ),
}  # fmt: skip
GAUGES = {
    "round_success": ("slawatch_round_success", "1 if the last round passed, else 0."),
    "round_duration": ("slawatch_round_duration_seconds", "Duration of the last round."),
    "memory_bytes": ("slawatch_target_memory_bytes", "Target resident memory after the round."),
    "memory_growth_bytes": (
        "slawatch_target_memory_growth_bytes", "Target memory growth over the last round.",
    ),
}  # fmt: skip


def build_version() -> str:
    try:
        return version("slawatch")
    except PackageNotFoundError:
        return "unknown"


class StoreCollector(Collector):
    """Reads ``store`` at each scrape and yields every ``slawatch_*`` family."""

    def __init__(
        self,
        store: ResultStore,
        settings: Settings,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings = settings
        self._now = now

    def describe(self) -> list[Metric]:
        return []  # no read at registration time

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        families: list[Metric] = []
        up = 1.0
        try:
            rows = self._store.exposition_series()
            slos = slo_series.objective_series(self._store, self._settings, self._now())
            families = [*series_families(rows), *slo_families(slos)]
        except DATABASE_ERRORS as exc:
            log.warning("store unreadable during a scrape: %s", type(exc).__name__)
            up = 0.0
        yield from families
        own = {"probe": "", "target": "", "runner": self._settings.runner}
        yield _gauge("slawatch_store_up", "1 if the store answered this scrape.", own, up)
        yield _gauge(
            "slawatch_scrape_duration_seconds",
            "Time this scrape spent reading the store.",
            own,
            time.perf_counter() - started,
        )
        info = GaugeMetricFamily(
            "slawatch_build_info", "slawatch's version.", labels=[*LABELS, "version"]
        )
        info.add_metric([own["probe"], own["target"], own["runner"], build_version()], 1.0)
        yield info


def _gauge(name: str, doc: str, labels: dict[str, str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def series_families(rows: list[SeriesRow]) -> list[Metric]:
    """Counters, histograms and last-round gauges from the stored series rows."""
    counters = {
        m: CounterMetricFamily(name, doc, labels=LABELS + ([lab] if lab else []))
        for m, (name, lab, doc) in COUNTERS.items()
    }
    histograms = {
        m: HistogramMetricFamily(name, doc, labels=LABELS + ([lab] if lab else []))
        for m, (name, lab, doc) in HISTOGRAMS.items()
    }
    gauges = {m: GaugeMetricFamily(name, doc, labels=LABELS) for m, (name, doc) in GAUGES.items()}
    last = GaugeMetricFamily(
        "slawatch_last_round_timestamp_seconds",
        "Start of the last round that ran, Unix seconds.",
        labels=LABELS,
    )
    hist: dict[tuple[str, tuple[str, ...]], dict[str, float]] = {}
    for row in rows:
        base = [row.probe, row.target, row.runner]
        if row.metric in COUNTERS:
            own = [row.label] if COUNTERS[row.metric][1] else []
            counters[row.metric].add_metric(base + own, row.value)
        elif row.metric in HISTOGRAMS:
            own = [row.label] if HISTOGRAMS[row.metric][1] else []
            hist.setdefault((row.metric, tuple(base + own)), {})[row.bucket] = row.value
        elif row.metric in GAUGES:
            gauges[row.metric].add_metric(base, row.value)
            if row.metric == "round_success":
                last.add_metric(base, row.at)
    for (metric, labels), values in hist.items():
        buckets, total = [], 0.0
        for bound in [*(repr(b) for b in SECONDS_BUCKETS), "+Inf"]:
            total += values.get(bound, 0.0)
            buckets.append((_le(bound), total))
        histograms[metric].add_metric(list(labels), buckets, values.get("sum", 0.0))
    return [*counters.values(), *histograms.values(), *gauges.values(), last]


def _le(bound: str) -> str:
    return bound if bound == "+Inf" else repr(float(bound))


def slo_families(series: list[slo_series.SloSeries]) -> list[Metric]:
    """The per-objective families: event counters, target, budget, burn rates, alerts."""
    slo_labels = [*LABELS, "slo"]
    sli_labels = [*slo_labels, "sli"]
    good = CounterMetricFamily(
        "slawatch_slo_good_events", "Good events of the objective's SLI.", labels=sli_labels
    )
    valid = CounterMetricFamily(
        "slawatch_slo_valid_events", "Valid events of the objective's SLI.", labels=sli_labels
    )
    ratio = GaugeMetricFamily(
        "slawatch_slo_objective_ratio", "The objective's target, as a ratio.", labels=slo_labels
    )
    budget = GaugeMetricFamily(
        "slawatch_slo_error_budget_remaining_ratio",
        "Error budget left over the objective's window (1 untouched, 0 spent, < 0 overspent).",
        labels=slo_labels,
    )
    burn = GaugeMetricFamily(
        "slawatch_slo_burn_rate", "Burn rate over the window.", labels=[*slo_labels, "window"]
    )
    firing = GaugeMetricFamily(
        "slawatch_slo_alert_firing",
        "1 while a burn-rate alert of this severity fires.",
        labels=[*slo_labels, "severity"],
    )
    for s in series:
        base = [*s.labels, s.slo.name]
        good.add_metric([*base, s.slo.sli], s.good_total)
        valid.add_metric([*base, s.slo.sli], s.valid_total)
        ratio.add_metric(base, float(Decimal(repr(s.slo.objective)) / 100))
        result = s.result
        if result.budget_left is not None:
            budget.add_metric(base, result.budget_left)
        windows: dict[str, float] = {}
        if result.burn_rate is not None:
            windows[slo_series.window_label(s.slo.window_s)] = result.burn_rate
        severities: dict[str, bool] = {}
        for alert in result.alerts:
            a = alert
            for seconds, rate in ((a.long_window_s, a.long_burn), (a.short_window_s, a.short_burn)):
                if rate is not None:
                    windows[slo_series.window_label(seconds)] = rate
            severities[alert.severity] = severities.get(alert.severity, False) or (
                alert.state == "firing"
            )
        for label, rate in windows.items():
            burn.add_metric([*base, label], rate)
        for severity, on in severities.items():
            firing.add_metric([*base, severity], 1.0 if on else 0.0)
    return [good, valid, ratio, budget, burn, firing]
