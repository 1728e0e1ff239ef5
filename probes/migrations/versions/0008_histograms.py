"""Per-minute and per-hour histograms of latencies and DB timings, filled from raw rows;
the SLI definitions whose cache the writer keeps.

``histograms`` holds one row per (width, minute, probe, target, runner,
metric): value count, failed count, exact min and max, and the DDSketch bins
(``probes.results.histograms``). Existing sessions and DB timings are added
here, a round at a time, with the same code ``save_round`` uses, so that
percentiles read after the upgrade equal those of a store written since.
``sli_definitions`` starts empty: a runner adds its objectives and fills their
cache (``probes.results.sli_cache.track``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "histograms",
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("bins", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "width", "minute", "probe", "target", "runner", "metric", name="pk_histograms"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "sli_definitions",
        sa.Column("sli", sa.String(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("sli", "threshold", "operation", name="pk_sli_definitions"),
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Histograms of the stored raw rows (what each round's save would have added).

    Read in time order and merged into the table a day at a time, so memory
    stays bounded whatever the size of the history.
    """
    from probes.results import histograms

    sessions = (
        "SELECT minute, probe, target, runner, 'first_event', first_event_ms, 1 "
        "FROM sessions ORDER BY started_at",
        "SELECT minute, probe, target, runner, 'completion', completion_ms, 1 "
        "FROM sessions ORDER BY started_at",
        "SELECT t.minute, r.probe, r.target, r.runner, 'db:' || t.operation, "
        "COALESCE(t.server_ms, t.client_ms), t.ok "
        "FROM db_timings t JOIN rounds r ON r.run_id = t.run_id ORDER BY t.started_at",
    )
    for query in sessions:
        found: dict[histograms.Key, histograms.Histogram] = {}
        day = None
        for minute, probe, target, runner, metric, value, ok in conn.execute(sa.text(query)):
            if day is not None and int(minute) // 1440 != day:
                histograms.save(conn, found)
                found = {}
            day = int(minute) // 1440
            labels = (probe, target, runner)
            histograms.add_to(found, int(minute), labels, metric, value, not ok)
        histograms.save(conn, found)


def downgrade() -> None:
    op.drop_table("sli_definitions")
    op.drop_table("histograms")
