"""Incidents, the streaks that open and resolve them, and the notification outbox.

``alert_subjects`` keeps each subject's bad and good streaks and its open
incident between evaluations (and across restarts); ``incidents`` every
incident opened; ``notifications`` one row per (incident, notify target, event),
unique, written before anything is sent, so no incident state is notified twice.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_subjects",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("bad_streak", sa.Integer(), nullable=False),
        sa.Column("good_streak", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_alert_subjects"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("objective", sa.String(), nullable=True),
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("resolved_at", _ts(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('slo', 'rounds')", name="ck_incidents_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("due_at", _ts(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", _ts(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'dropped')", name="ck_notifications_status"
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_notifications_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )  # fmt: skip
    op.create_index(
        "ix_notifications_incident_id_target_event",
        "notifications",
        ["incident_id", "target", "event"],
        unique=True,
    )
    op.create_index("ix_notifications_status_due_at", "notifications", ["status", "due_at"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("incidents")
    op.drop_table("alert_subjects")
