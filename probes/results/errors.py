"""The errors the results store raises: one small tree under ``StoreError``."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the errors the results store raises."""


class RoundNotSaved(StoreError):
    """A round was not stored (duplicate run id, constraint, naive time, lost lock).

    Nothing of it was written: a round is stored whole or not at all.
    """
