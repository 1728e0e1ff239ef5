"""The label lists (probes, targets, runners): a small table kept by ``save_round``.

``SELECT DISTINCT probe, target, runner FROM rounds`` took 10 s cold on 180
days of rounds; ``round_labels`` has one row per combination ever stored, so
the dashboard's filter choices cost one tiny read. A combination stays listed
after its rounds are pruned (its rollups may still be read).
"""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from probes.records import RoundResult
from probes.results.schema import round_labels


def remember_labels(conn: Connection, r: RoundResult) -> None:
    """Add the round's (probe, target, runner) to ``round_labels`` unless it is there."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    row = {"probe": r.probe, "target": r.target, "runner": r.runner}
    conn.execute(dialect.insert(round_labels).on_conflict_do_nothing(), [row])


def labels(engine: Engine) -> dict[str, list[str]]:
    """The distinct probes, targets and runners of stored rounds, sorted (filter choices)."""
    c = round_labels.c
    found: dict[str, set[str]] = {"probes": set(), "targets": set(), "runners": set()}
    with engine.connect() as conn:
        for probe, target, runner in conn.execute(select(c.probe, c.target, c.runner)):
            found["probes"].add(probe)
            found["targets"].add(target)
            found["runners"].add(runner)
    return {key: sorted(values) for key, values in found.items()}
