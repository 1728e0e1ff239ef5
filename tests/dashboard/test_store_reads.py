"""The two store reads added for the dashboard: filter labels and memory per time bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from probes.records import Filters, MemorySample, RoundResult
from probes.results import ResultStore

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def memory_round(run_id: str, at: datetime, growth: float | None, **labels: str) -> RoundResult:
    samples = () if growth is None else (
        MemorySample(at, 100.0), MemorySample(at + timedelta(seconds=1), 100.0 + growth)
    )  # fmt: skip
    return RoundResult(
        run_id=run_id,
        probe=labels.get("probe", "default"),
        target=labels.get("target", "ws://a/ws"),
        runner=labels.get("runner", "local"),
        started_at=at,
        finished_at=at + timedelta(seconds=2),
        status="error",
        reason="no sessions: memory only",
        memory_samples=samples,
    )


def test_labels_are_the_distinct_probes_targets_and_runners(tmp_path: Path) -> None:
    with ResultStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        assert store.labels() == {"probes": [], "targets": [], "runners": []}
        store.save_round(memory_round("a", T0, 1.0))
        store.save_round(memory_round("b", T0, 1.0, probe="canary", runner="eu-1"))
        store.save_round(memory_round("c", T0, 1.0, target="ws://b/ws"))
        assert store.labels() == {
            "probes": ["canary", "default"],
            "targets": ["ws://a/ws", "ws://b/ws"],
            "runners": ["eu-1", "local"],
        }


def test_memory_buckets_give_the_worst_round_of_each_bucket(tmp_path: Path) -> None:
    with ResultStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.save_round(memory_round("a", T0, 1.0))
        store.save_round(memory_round("b", T0 + timedelta(minutes=20), 60.0))
        store.save_round(memory_round("c", T0 + timedelta(minutes=70), 2.0, probe="canary"))
        store.save_round(memory_round("d", T0 + timedelta(minutes=80), None))  # no samples
        every = store.memory_buckets(T0, T0 + timedelta(hours=2), bucket_s=3600)
        canary = store.memory_buckets(
            T0, T0 + timedelta(hours=2), Filters(probe="canary"), bucket_s=3600
        )
    assert every == [
        {"start": T0, "rounds": 2, "growth_max_mb": 60.0, "peak_max_mb": 160.0},
        {"start": T0 + timedelta(hours=1), "rounds": 1, "growth_max_mb": 2.0, "peak_max_mb": 102.0},
    ]
    assert [b["start"] for b in canary] == [T0 + timedelta(hours=1)]
