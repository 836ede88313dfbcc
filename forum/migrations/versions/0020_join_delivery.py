"""the delivery a join asked for on the web chose (subscription_requests.delivery)

Revision ID: 0020
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscription_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscription_requests", schema=None) as batch_op:
        batch_op.drop_column("delivery")
