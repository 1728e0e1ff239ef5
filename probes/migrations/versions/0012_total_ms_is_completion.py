"""``total_ms`` means what PROFILES.md says: chat sent -> the done that passed.

Until now the sessions' ``total_ms`` held the whole session (connect start to
socket closed) while ``completion_ms`` held PROFILES.md's "``total_ms`` /
completion latency" (chat sent -> the first ``done`` that passes ``done_ok``).
An exported ``total_ms`` must be the contract's figure, so stored rows take
``completion_ms``'s value (None where no done came); new rows are written that
way. The connect-to-close length is not kept (no objective or chart used it).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE sessions SET total_ms = completion_ms "
        "WHERE total_ms IS NOT NULL OR completion_ms IS NOT NULL"
    )


def downgrade() -> None:
    """The old connect-to-close figures are gone; the column keeps the new meaning."""
