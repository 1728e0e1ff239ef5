"""``session_rollup_minute.planned``: sessions closed 1001/1012 (reason planned_close).

session_success leaves them out of its valid events by default; the rollup needs
their count per minute to do so. Existing rows get 0: before this revision such
sessions were stored as ``closed_abnormally`` and stay so.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("session_rollup_minute") as batch:
        batch.add_column(sa.Column("planned", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("session_rollup_minute") as batch:
        batch.drop_column("planned")
