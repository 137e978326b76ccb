"""SQLAlchemy 2 table models of the store; only the ``watcher.store`` package uses them.

The schema itself is owned by the Alembic revisions in ``watcher/store/migrations/versions``;
these classes must describe the schema at ``head``. Two column types keep both backends alike:

- ``UtcDateTime``: timezone-aware UTC in and out. PostgreSQL stores ``timestamptz``; SQLite
  stores naive UTC ISO text (which sorts in time order). Naive datetimes are refused.
- ``JsonText``: JSON kept as text, so the same ``LIKE`` filters work on both backends.

Raises nothing itself; a naive datetime bound to a column raises ``ValueError`` (wrapped by
SQLAlchemy, turned into ``StoreError`` by the store).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AttemptRow",
    "Base",
    "ChangeRow",
    "DeliveryRow",
    "EventRow",
    "FactBaselineRow",
    "JsonText",
    "MetaRow",
    "SnapshotRow",
    "UtcDateTime",
    "VerdictRow",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store needs aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonText(TypeDecorator[Any]):
    """A JSON value stored as text (keys kept in order, non-ASCII kept readable)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)


class Base(DeclarativeBase):
    pass


# ------------------------------------------------------------------ revision 0001


class SnapshotRow(Base):
    """One stored text of a document; its files live under the snapshots directory."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_doc_fetched", "doc_id", "fetched_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(String(200), index=True)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime)
    text_sha256: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    version_date: Mapped[str | None] = mapped_column(String(100))
    technical: Mapped[bool] = mapped_column(Boolean, default=False)
    text_path: Mapped[str] = mapped_column(String(500))  # relative to snapshots_dir
    text_size: Mapped[int] = mapped_column(Integer)  # bytes of UTF-8 text
    raw_path: Mapped[str | None] = mapped_column(
        String(500)
    )  # the raw body, compressed
    raw_size: Mapped[int | None] = mapped_column(Integer)  # bytes before compression
    url: Mapped[str | None] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(200))
    encoding: Mapped[str | None] = mapped_column(String(50))


class AttemptRow(Base):
    """One check of a document, whatever came of it; holds the validators it got."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_doc_at", "doc_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(20))
    error_kind: Mapped[str | None] = mapped_column(String(50))
    transient: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str | None] = mapped_column(Text)
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("snapshots.id"), index=True
    )
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)


class ChangeRow(Base):
    """A move of a document from one snapshot to the next."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(String(200), index=True)
    from_snapshot: Mapped[int] = mapped_column(ForeignKey("snapshots.id"))
    to_snapshot: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), unique=True)
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    severity: Mapped[str] = mapped_column(String(20))
    topics: Mapped[list[str]] = mapped_column(JsonText)
    summary: Mapped[str] = mapped_column(Text)
    technical: Mapped[bool] = mapped_column(Boolean, default=False)
    review: Mapped[str | None] = mapped_column(String(20))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    # revision 0002
    facts: Mapped[list[str]] = mapped_column(JsonText, default=list)


# ------------------------------------------------------------------ revision 0002


class VerdictRow(Base):
    """One evaluation of a fact; ``since`` is carried over while the value stays the same."""

    __tablename__ = "verdicts"
    __table_args__ = (Index("ix_verdicts_fact", "fact_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fact_id: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(20))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    reasons: Mapped[list[str]] = mapped_column(JsonText)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonText)
    snapshot_ids: Mapped[list[int]] = mapped_column(JsonText)
    closeness: Mapped[float | None] = mapped_column(Float)


class EventRow(Base):
    """An AlertEvent in the outbox, unique on its key."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(20))
    platform: Mapped[str] = mapped_column(String(100))
    doc_id: Mapped[str | None] = mapped_column(String(200))
    topics: Mapped[list[str]] = mapped_column(JsonText)
    subject: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonText)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    done: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class DeliveryRow(Base):
    """The state of one (event, channel) pair."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("event_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_events.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class FactBaselineRow(Base):
    """A fact's quote re-baselined by a reviewer."""

    __tablename__ = "fact_baselines"

    fact_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MetaRow(Base):
    """Small named values: the daemon heartbeat."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JsonText)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
