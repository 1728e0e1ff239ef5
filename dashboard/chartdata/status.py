"""What the pages say before any chart: whether the store has data, and the filter choices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from probes.results import DATABASE_ERRORS, ResultStore, sqlite_file

StoreState = Literal["ready", "empty", "missing", "unreachable"]


@dataclass(frozen=True, slots=True)
class StoreStatus:
    state: StoreState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Labels:
    """The probes, targets and runners that have stored rounds (the filters' choices)."""

    probes: list[str]
    targets: list[str]
    runners: list[str]


def store_status(url: str, connect: Callable[[str], ResultStore]) -> StoreStatus:
    """Missing file, no schema, no rounds, unreachable, or ready (``connect`` never migrates)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return StoreStatus("missing", f"{path} does not exist yet")
    try:
        s = connect(url)
        if s.schema_version() is None:
            return StoreStatus("empty", "the store has no tables yet")
        if s.first_round_at() is None:
            return StoreStatus("empty", "the store has no rounds yet")
    except DATABASE_ERRORS as exc:
        cause = getattr(exc, "orig", None) or exc
        return StoreStatus("unreachable", f"{type(cause).__name__}: {cause}")
    return StoreStatus("ready")


def labels(store: ResultStore) -> Labels:
    """The distinct probes, targets and runners of stored rounds, sorted."""
    found = store.labels()
    return Labels(found["probes"], found["targets"], found["runners"])
