"""Runner heartbeats and the schedule's own records (slots, also HA leases).

``runner_heartbeats`` has one row per runner process; ``schedule_slots`` one row
per (probe, runner label, slot) the schedule took, started or skipped, with the
round that fills it: coverage counts slots, not rounds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runner_heartbeats",
        sa.Column("instance", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("ha", sa.Boolean(), nullable=False),
        sa.Column("probes", sa.Text(), nullable=False),
        sa.Column("beat_every_s", sa.Float(), nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("beat_at", UTC_TS, nullable=False),
        sa.Column("last_stored_at", UTC_TS, nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("stalls", sa.Integer(), nullable=False),
        sa.Column("last_stall_at", UTC_TS, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'stalled', 'stopped')", name="ck_runner_heartbeats_state"
        ),
        sa.PrimaryKeyConstraint("instance", name="pk_runner_heartbeats"),
    )
    op.create_index(
        "ix_runner_heartbeats_runner_beat_at", "runner_heartbeats", ["runner", "beat_at"]
    )
    op.create_table(
        "schedule_slots",
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("slot", UTC_TS, nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("instance", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('started', 'skipped', 'lost')", name="ck_schedule_slots_state"
        ),
        sa.PrimaryKeyConstraint("probe", "runner", "slot", name="pk_schedule_slots"),
    )
    op.create_index("ix_schedule_slots_run_id", "schedule_slots", ["run_id"])


def downgrade() -> None:
    op.drop_table("schedule_slots")
    op.drop_table("runner_heartbeats")
