"""members' profiles and the site-wide list of areas of expertise (profiles, expertise_tags, user_expertise)

Revision ID: 0026
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=200), server_default="", nullable=False),
        sa.Column("job_title", sa.String(length=200), server_default="", nullable=False),
        sa.Column("region", sa.String(length=200), server_default="", nullable=False),
        sa.Column("bio", sa.Text(), server_default="", nullable=False),
        sa.Column("links", sa.Text(), server_default="", nullable=False),
        sa.Column("photo_sha256", sa.String(length=64), nullable=True),
        sa.Column("visibility", sa.String(length=16), server_default="shared", nullable=False),
        sa.Column("show_email", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_profiles_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
    )
    op.create_table(
        "expertise_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expertise_tags")),
        sa.UniqueConstraint("key", name=op.f("uq_expertise_tags_key")),
    )
    op.create_table(
        "user_expertise",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["expertise_tags.id"], name=op.f("fk_user_expertise_tag_id_expertise_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_expertise_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "tag_id", name=op.f("pk_user_expertise")),
    )
    with op.batch_alter_table("user_expertise", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_expertise_tag_id"), ["tag_id"], unique=False)


def downgrade() -> None:
    op.drop_table("user_expertise")
    op.drop_table("expertise_tags")
    op.drop_table("profiles")
