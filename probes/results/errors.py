"""The errors the results store raises (their home is the one tree in ``probes.errors``)."""

from __future__ import annotations

from probes.errors import RoundNotSaved, StoreError, StoreUnavailable

__all__ = ["RoundNotSaved", "StoreError", "StoreUnavailable"]
