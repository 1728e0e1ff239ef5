"""Per-day histogram rows, merged from the stored hour rows.

``save_round`` now adds every value to a day row (width 1440) besides its
minute and hour rows, so that a year in day buckets reads 365 rows per series
instead of 8,760 hour rows (``probes.results.histograms``). The rows of the
history already stored are built here from its hour rows, a day at a time,
with the same merge a read does: a read of an upgraded store gives the same
percentiles as one written since.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from probes.results.histograms import Histogram

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

HOUR, DAY = 60, 1440
Key = tuple[int, str, str, str, str]  # day's first minute, probe, target, runner, metric
COLUMNS = ("width", "minute", "probe", "target", "runner", "metric")
INSERT = sa.text(
    "INSERT INTO histograms (width, minute, probe, target, runner, metric, count, failed, "
    "low, high, bins) VALUES (:width, :minute, :probe, :target, :runner, :metric, :count, "
    ":failed, :low, :high, :bins)"
)


def upgrade() -> None:
    from probes.results import histograms

    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM histograms WHERE width = :w"), {"w": DAY})
    hours = sa.text(
        "SELECT minute, probe, target, runner, metric, count, failed, low, high, bins "
        "FROM histograms WHERE width = :w ORDER BY minute"
    )
    found: dict[Key, Histogram] = {}
    day = None
    for row in conn.execute(hours, {"w": HOUR}).mappings():
        if day is not None and int(row["minute"]) // DAY != day:
            _write(conn, found)
            found = {}
        day = int(row["minute"]) // DAY
        key = (day * DAY, row["probe"], row["target"], row["runner"], row["metric"])
        found.setdefault(key, histograms.Histogram()).merge(histograms.stored(row))
    _write(conn, found)


def _write(conn: sa.Connection, found: dict[Key, Histogram]) -> None:
    from probes.results import histograms

    rows = [
        dict(zip(COLUMNS, (DAY, *key), strict=True)) | histograms.columns(x)
        for key, x in sorted(found.items())
    ]
    if rows:
        conn.execute(INSERT, rows)


def downgrade() -> None:
    op.execute(f"DELETE FROM histograms WHERE width = {DAY}")
