"""Several locations, one objective: how runner labels combine, slot by slot.

``pooled`` (the default) counts every event wherever it was measured. The
others judge per time slice (OpenSLO's Timeslices): in each SLI bucket every
location with valid events is good when its own ratio meets the objective,
and the slice is good when

- ``any``: at least one location is good;
- ``all``: every location with data is good;
- ``quorum:N``: fewer than N locations are bad (bad when at least N are, as
  Grafana Synthetic Monitoring's and Checkly's multi-location alerts work).

Each slice becomes one event (valid 1, good 0 or 1), so the SLO maths
(``slo.evaluate``) then reads "share of good slices". A slice where no
location has data is no slice at all: no data, never good. Pure: no store,
clock or logging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from probes.records import SliBucket


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A parsed ``aggregate`` setting: ``kind`` and, for ``quorum``, its N."""

    kind: str  # "pooled", "any", "all" or "quorum"
    quorum: int = 0

    @property
    def pooled(self) -> bool:
        return self.kind == "pooled"


def parse_aggregate(text: str) -> Aggregate:
    """``pooled``, ``any``, ``all`` or ``quorum:N`` (N >= 1); ``ValueError`` otherwise."""
    if text in ("pooled", "any", "all"):
        return Aggregate(text)
    head, _, count = text.partition(":")
    if head == "quorum" and count.isdigit() and int(count) >= 1:
        return Aggregate("quorum", int(count))
    raise ValueError(f'must be "pooled", "any", "all" or "quorum:N" with N >= 1, got {text!r}')


def slice_is_good(bucket: SliBucket, objective: float) -> bool:
    """One location's slice meets the objective (exactly: 999 of 1000 meets 99.9)."""
    return Fraction(bucket.good, bucket.valid) >= Fraction(repr(objective)) / 100


def aggregate_slices(
    per_location: Mapping[str, Sequence[SliBucket]], rule: Aggregate, objective: float
) -> list[SliBucket]:
    """One bucket per slice with data: valid 1, good 1 when ``rule`` calls it good."""
    if rule.pooled:
        raise ValueError("pooled objectives count events, not slices")
    slices: dict[datetime, list[bool]] = {}
    for buckets in per_location.values():
        for b in buckets:
            if b.valid > 0:
                slices.setdefault(b.start, []).append(slice_is_good(b, objective))
    out = []
    for start in sorted(slices):
        verdicts = slices[start]
        bad = verdicts.count(False)
        if rule.kind == "any":
            good = bad < len(verdicts)
        elif rule.kind == "all":
            good = bad == 0
        else:
            good = bad < rule.quorum
        out.append(SliBucket(start, int(good), 1))
    return out
