"""thread redirects: where a merged thread's old address leads

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_redirects",
        sa.Column("old_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_thread_redirects_thread_id_threads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("old_id", name=op.f("pk_thread_redirects")),
    )
    with op.batch_alter_table("thread_redirects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thread_redirects_thread_id"), ["thread_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("thread_redirects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_redirects_thread_id"))
    op.drop_table("thread_redirects")
