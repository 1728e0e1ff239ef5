"""Every-location histogram rows per hour and per day, merged here from the stored rows.

``save_round`` now also adds each value to one row per (hour or day, metric) whose
probe, target and runner are all empty (``probes.results.histograms.POOLED``): a
chart over every location reads one row per bucket and metric instead of one per
location. The rows of hours and days stored before are merged here, in the
database (bins summed key by key), after removing any such row an earlier
revision's backfill made with today's code (so none is counted twice).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

WIDTHS = "(60, 1440)"
POOLED = "probe = '' AND target = '' AND runner = ''"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DELETE FROM histograms WHERE width IN {WIDTHS} AND {POOLED}")
    if postgres:
        pairs = "json_each_text(h.bins::json) AS j"
        value, merged = "j.value::bigint", "json_object_agg(key, n)::text"
    else:
        pairs, value, merged = "json_each(h.bins) AS j", "j.value", "json_group_object(key, n)"
    op.execute(
        "INSERT INTO histograms "
        "(width, minute, probe, target, runner, metric, count, failed, low, high, bins) "
        "SELECT t.width, t.minute, '', '', '', t.metric, t.c, t.f, t.lo, t.hi, "
        "COALESCE(b.bins, '{}') FROM ("
        "SELECT width, minute, metric, SUM(count) AS c, SUM(failed) AS f, MIN(low) AS lo, "
        f"MAX(high) AS hi FROM histograms WHERE width IN {WIDTHS} "
        "GROUP BY width, minute, metric) AS t LEFT JOIN ("
        f"SELECT width, minute, metric, {merged} AS bins FROM ("
        f"SELECT h.width, h.minute, h.metric, j.key AS key, SUM({value}) AS n "
        f"FROM histograms AS h, {pairs} WHERE h.width IN {WIDTHS} "
        "GROUP BY h.width, h.minute, h.metric, j.key) AS k "
        "GROUP BY width, minute, metric) AS b "
        "ON b.width = t.width AND b.minute = t.minute AND b.metric = t.metric"
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM histograms WHERE width IN {WIDTHS} AND {POOLED}")
