"""search (SQLite): the privacy filter reads a narrow index, not each candidate's post

Revision ID: 0009
Revises: 0008

A search keeps, of the newest thousand matches of its words, those the searcher may read:
for each, the post's community and status. Read from ``posts`` they cost a whole row each,
wide with the post's text (a page or more): a thousand scattered pages a search. The index ``ix_posts_search_scope`` holds just the id,
community and status, two hundred posts to a page. SQLite's planner always finds a post
by its rowid, never through a covering index, so the view ``post_search_scope`` names the
index (``INDEXED BY``) and the search reads the view: at a million posts, the query that
reads a search's candidates takes 1.6 ms instead of 2.7. PostgreSQL needs neither: its search
table (0008) carries the community and status already.

Later migrations, beware: a batch operation that recreates ``posts`` must drop this view
first and create it (and the index) again.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "ix_posts_search_scope"
VIEW = "post_search_scope"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index(INDEX, "posts", ["id", "community_id", "status"])
    op.execute(f"CREATE VIEW {VIEW} AS SELECT id AS post_id, community_id, status FROM posts INDEXED BY {INDEX}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"DROP VIEW {VIEW}")
    op.drop_index(INDEX, "posts")
