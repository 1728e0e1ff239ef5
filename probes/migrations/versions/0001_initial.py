"""Initial schema: rounds, sessions and their events, memory samples, DB timings,
annotations and the per-minute session rollup.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types in probes.results: a migration must not change
# when the application code does.
UTC_TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY = rowid


def upgrade() -> None:
    op.create_table(
        "rounds",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("finished_at", UTC_TS, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("memory_baseline_mb", sa.Float(), nullable=True),
        sa.Column("memory_peak_mb", sa.Float(), nullable=True),
        sa.Column("memory_after_mb", sa.Float(), nullable=True),
        sa.Column("memory_growth_mb", sa.Float(), nullable=True),
        sa.Column("memory_source", sa.String(), nullable=False),
        sa.Column("auth_http_status", sa.Integer(), nullable=True),
        sa.Column("auth_close_code", sa.Integer(), nullable=True),
        sa.Column("auth_ok", sa.Boolean(), nullable=True),
        sa.Column("auth_error", sa.Text(), nullable=True),
        sa.Column("sessions_total", sa.Integer(), nullable=False),
        sa.Column("sessions_failed", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('passed', 'failed', 'error', 'skipped')", name="ck_rounds_status"
        ),
        sa.PrimaryKeyConstraint("run_id", name="pk_rounds"),
    )
    op.create_index("ix_rounds_started_at", "rounds", ["started_at"])
    op.create_index("ix_rounds_probe_started_at", "rounds", ["probe", "started_at"])

    op.create_table(
        "sessions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("auth_mode", sa.String(), nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("connect_ms", sa.Float(), nullable=True),
        sa.Column("first_event_ms", sa.Float(), nullable=True),
        sa.Column("completion_ms", sa.Float(), nullable=True),
        sa.Column("total_ms", sa.Float(), nullable=True),
        sa.Column("close_code", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=False),
        sa.Column("sent_close_code", sa.Integer(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("missing_events", sa.Text(), nullable=False),
        sa.Column("order_ok", sa.Boolean(), nullable=False),
        sa.Column("seq_gaps", sa.Integer(), nullable=False),
        sa.Column("foreign_events", sa.Integer(), nullable=False),
        sa.Column("agent_run_id", sa.String(), nullable=True),
        sa.Column("db_ms", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.CheckConstraint("outcome IN ('ok', 'failed')", name="ck_sessions_outcome"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["rounds.run_id"], name="fk_sessions_run_id_rounds", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    op.create_index("ix_sessions_probe_started_at", "sessions", ["probe", "started_at"])
    op.create_index("ix_sessions_target_started_at", "sessions", ["target", "started_at"])
    op.create_index("ix_sessions_runner_started_at", "sessions", ["runner", "started_at"])
    op.create_index("ix_sessions_run_id", "sessions", ["run_id"])

    op.create_table(
        "session_events",
        sa.Column("session_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("ms", sa.Float(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("server_ts", sa.Float(), nullable=True),
        sa.Column("foreign", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_session_events_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "position", name="pk_session_events"),
    )

    op.create_table(
        "memory_samples",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("rss_mb", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["rounds.run_id"],
            name="fk_memory_samples_run_id_rounds",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_memory_samples"),
    )
    op.create_index("ix_memory_samples_run_id", "memory_samples", ["run_id"])
    op.create_index("ix_memory_samples_at", "memory_samples", ["at"])

    op.create_table(
        "db_timings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("client_ms", sa.Float(), nullable=True),
        sa.Column("server_ms", sa.Float(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["rounds.run_id"], name="fk_db_timings_run_id_rounds", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_db_timings"),
    )
    op.create_index("ix_db_timings_run_id", "db_timings", ["run_id"])
    op.create_index("ix_db_timings_started_at", "db_timings", ["started_at"])

    op.create_table(
        "annotations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("start", UTC_TS, nullable=False),
        sa.Column("end", UTC_TS, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column(
            "created_at", UTC_TS, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('deploy', 'incident', 'maintenance')", name="ck_annotations_kind"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_annotations"),
    )
    op.create_index("ix_annotations_start", "annotations", ["start"])

    op.create_table(
        "session_rollup_minute",
        sa.Column("bucket", UTC_TS, nullable=False),
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("complete_in_order", sa.Integer(), nullable=False),
        sa.Column("not_1011", sa.Integer(), nullable=False),
        sa.Column("no_foreign", sa.Integer(), nullable=False),
        sa.Column("connected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "bucket", "probe", "target", "runner", name="pk_session_rollup_minute"
        ),
    )
    op.create_index(
        "ix_session_rollup_minute_probe_bucket", "session_rollup_minute", ["probe", "bucket"]
    )
    op.create_index(
        "ix_session_rollup_minute_target_bucket", "session_rollup_minute", ["target", "bucket"]
    )


def downgrade() -> None:
    for table in (
        "session_rollup_minute",
        "annotations",
        "db_timings",
        "memory_samples",
        "session_events",
        "sessions",
        "rounds",
    ):
        op.drop_table(table)
