"""The protocol profile of each round and session (PROFILES.md).

Adds ``profile`` to rounds and sessions: the name of the profile the probe
spoke, shown beside its target. Rows stored before profiles existed were all
agent-chat v1, which is what the server default fills in.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("rounds", "sessions")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("profile", sa.String(), nullable=False, server_default="agent-chat-v1"),
        )


def downgrade() -> None:
    for table in TABLES:
        # A plain ALTER TABLE (SQLite 3.35+): batch mode would copy and drop the table.
        op.drop_column(table, "profile")
