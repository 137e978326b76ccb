"""Core tables: snapshots, attempts, changes.

Revision ID: 0001
Revises:
Create Date: 2026-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column("fetched_at", _WHEN, nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=True),
        sa.Column("version_date", sa.String(100), nullable=True),
        sa.Column("technical", sa.Boolean, nullable=False),
        sa.Column("text_path", sa.String(500), nullable=False),
        sa.Column("text_size", sa.Integer, nullable=False),
        sa.Column("raw_path", sa.String(500), nullable=True),
        sa.Column("raw_size", sa.Integer, nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("final_url", sa.Text, nullable=True),
        sa.Column("content_type", sa.String(200), nullable=True),
        sa.Column("encoding", sa.String(50), nullable=True),
    )
    op.create_index("ix_snapshots_doc_id", "snapshots", ["doc_id"])
    op.create_index("ix_snapshots_doc_fetched", "snapshots", ["doc_id", "fetched_at"])

    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error_kind", sa.String(50), nullable=True),
        sa.Column("transient", sa.Boolean, nullable=False),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column(
            "snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=True
        ),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
    )
    op.create_index("ix_attempts_doc_at", "attempts", ["doc_id", "at"])
    op.create_index("ix_attempts_snapshot_id", "attempts", ["snapshot_id"])

    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column(
            "from_snapshot", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False
        ),
        sa.Column(
            "to_snapshot",
            sa.Integer,
            sa.ForeignKey("snapshots.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("detected_at", _WHEN, nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("technical", sa.Boolean, nullable=False),
        sa.Column("review", sa.String(20), nullable=True),
        sa.Column("reviewed_at", _WHEN, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_changes_doc_id", "changes", ["doc_id"])
    op.create_index("ix_changes_detected_at", "changes", ["detected_at"])


def downgrade() -> None:
    op.drop_table("changes")
    op.drop_table("attempts")
    op.drop_table("snapshots")
