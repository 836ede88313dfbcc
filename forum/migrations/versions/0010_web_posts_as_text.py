"""web posts' text as plain text: Markdown written on the web was stored as it was typed,
and plain-text mail, digests, chat and search showed its markup

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from forum.text import markdown_to_text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    posts = sa.table(
        "posts", sa.column("id", sa.Integer()), sa.column("body", sa.Text()), sa.column("source", sa.String(16))
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(posts.c.id, posts.c.body)
            .where(posts.c.source == "web", posts.c.id > last)
            .order_by(posts.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        changed = [{"post_id": pid, "text": markdown_to_text(body)} for pid, body in rows]
        changed = [row for row, (_, body) in zip(changed, rows, strict=True) if row["text"] != body]
        if changed:
            bind.execute(
                posts.update().where(posts.c.id == sa.bindparam("post_id")).values(body=sa.bindparam("text")), changed
            )
        last = rows[-1][0]


def downgrade() -> None:
    """The Markdown is not kept (its formatting is in each post's HTML): nothing to undo."""
