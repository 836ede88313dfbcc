"""first-post moderation and pinned threads (communities.moderate_new, threads.pinned)

Revision ID: 0023
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch copy of threads on SQLite would have to
    # drop a table other tables' foreign keys and triggers name.
    op.add_column("communities", sa.Column("moderate_new", sa.Integer(), server_default="0", nullable=False))
    op.add_column("threads", sa.Column("pinned", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("pinned")
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("moderate_new")
