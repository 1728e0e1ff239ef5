"""Schedule slots: a probe every ``every_s`` runs at epoch-aligned instants.

Pure arithmetic shared by the scheduler (which slot is this?), the store's
leases (two HA runners must name the same slot) and coverage (which slots did
the schedule imply for a window?). Times are aware datetimes; the slot that
holds ``t`` starts at ``floor(epoch(t) / every) * every``, computed in whole
microseconds so that no float rounding moves a slot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _every_us(every_s: float) -> int:
    us = round(every_s * 1_000_000)
    if us <= 0:
        raise ValueError(f"every_s must be positive, got {every_s!r}")
    return us


def slot_of(moment: datetime, every_s: float) -> datetime:
    """The start of the slot that holds ``moment``."""
    every = _every_us(every_s)
    offset = (moment - EPOCH) // _US
    return EPOCH + (offset // every) * every * _US


def first_slot_at_or_after(moment: datetime, every_s: float) -> datetime:
    """The first slot that starts at ``moment`` or later."""
    start = slot_of(moment, every_s)
    return start if start == moment else start + _every_us(every_s) * _US


def slots_between(since: datetime, until: datetime, every_s: float) -> int:
    """How many slots start in ``[since, until)`` (0 when the window is empty)."""
    if until <= since:
        return 0
    every = _every_us(every_s)
    first = (first_slot_at_or_after(since, every_s) - EPOCH) // _US
    last = (until - EPOCH) // _US  # exclusive
    return max(0, -(-(last - first) // every))
