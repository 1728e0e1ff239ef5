"""The dashboard process fixes glibc's mmap and trim thresholds once (dashboard/heap.py)."""

from __future__ import annotations

import sys

import pytest

from dashboard import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_heap_thresholds_are_set_once_per_process() -> None:
    assert heap.tune_heap() is True
    assert heap.tune_heap() is True  # idempotent: every script run calls it
