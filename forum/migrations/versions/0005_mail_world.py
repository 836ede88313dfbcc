"""mail in the real world: bounce state on memberships, email subscription requests,
IMAP source and SMTP client of inbound mail

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import forum.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_bounce_at", forum.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("bounce_reason", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("bounce_disabled_at", forum.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "delivery_before_bounces",
                sa.Enum(
                    "each",
                    "daily",
                    "weekly",
                    "none",
                    name="delivery",
                    native_enum=False,
                    create_constraint=False,
                    length=16,
                ),
                nullable=True,
            )
        )

    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_ref", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("client_ip", sa.String(length=45), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_inbound_messages_source_ref"), ["source_ref"])

    op.create_table(
        "subscription_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("created_at", forum.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_subscription_requests_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_requests")),
    )


def downgrade() -> None:
    op.drop_table("subscription_requests")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_inbound_messages_source_ref"), type_="unique")
        batch_op.drop_column("client_ip")
        batch_op.drop_column("source_ref")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("delivery_before_bounces")
        batch_op.drop_column("bounce_disabled_at")
        batch_op.drop_column("bounce_reason")
        batch_op.drop_column("last_bounce_at")
