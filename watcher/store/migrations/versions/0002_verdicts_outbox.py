"""Verdicts, outbox events and deliveries, fact baselines, meta; changes.facts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    # ids of facts whose verdict moved with the change, as a JSON list; old rows get []
    with op.batch_alter_table("changes") as batch:
        batch.add_column(
            sa.Column("facts", sa.Text, nullable=False, server_default="[]")
        )

    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fact_id", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("checked_at", _WHEN, nullable=False),
        sa.Column("since", _WHEN, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("snapshot_ids", sa.Text, nullable=False),
        sa.Column("closeness", sa.Float, nullable=True),
    )
    op.create_index("ix_verdicts_fact", "verdicts", ["fact_id", "id"])

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("platform", sa.String(100), nullable=False),
        sa.Column("doc_id", sa.String(200), nullable=True),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("done", sa.Boolean, nullable=False),
    )
    op.create_index("ix_outbox_events_done", "outbox_events", ["done"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "event_id",
            sa.Integer,
            sa.ForeignKey("outbox_events.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_at", _WHEN, nullable=True),
        sa.Column("next_try_at", _WHEN, nullable=True),
        sa.Column("sent_at", _WHEN, nullable=True),
        sa.Column("failed_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.UniqueConstraint("event_id", "channel"),
    )

    op.create_table(
        "fact_baselines",
        sa.Column("fact_id", sa.String(200), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("set_at", _WHEN, nullable=False),
    )

    op.create_table(
        "meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("fact_baselines")
    op.drop_table("deliveries")
    op.drop_table("outbox_events")
    op.drop_index("ix_verdicts_fact", table_name="verdicts")
    op.drop_table("verdicts")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("facts")
