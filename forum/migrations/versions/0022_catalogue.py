"""the catalogue and site administration: communities' category and archiving, site
administrators, requests for new communities

Revision ID: 0022
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import forum.models

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=60), server_default="", nullable=False))
        batch_op.add_column(sa.Column("archived_at", forum.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_site_admin", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "community_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column(
            "visibility", sa.Enum("public", "private", name="visibility", native_enum=False, length=16), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "declined", name="requeststatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", forum.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("created_at", forum.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_requests_community_id_communities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_community_requests_decided_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_community_requests_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_requests")),
    )
    with op.batch_alter_table("community_requests", schema=None) as batch_op:
        batch_op.create_index("ix_community_requests_status", ["status", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_community_requests_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("community_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_requests_user_id"))
        batch_op.drop_index("ix_community_requests_status")
    op.drop_table("community_requests")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_site_admin")
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("archived_at")
        batch_op.drop_column("category")
