"""Changes: looking them up and filtering them, and recording a reviewer's decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import Text, select, type_coerce

from watcher.errors import StoreError
from watcher.models import Change
from watcher.store._core import StoreCore
from watcher.store._records import change_of, utc
from watcher.store._tables import ChangeRow

__all__ = ["Changes"]


class Changes(StoreCore):
    """The change records of ``SnapshotStore``."""

    def change(self, change_id: int) -> Change | None:
        with self._read() as s:
            row = s.get(ChangeRow, change_id)
            return None if row is None else change_of(row)

    def changes(
        self,
        *,
        platform: str | None = None,
        doc_id: str | None = None,
        topic: str | None = None,
        unreviewed: bool = False,
        include_technical: bool = True,
        limit: int | None = None,
    ) -> list[Change]:
        """Changes matching every given filter, newest first."""
        query = select(ChangeRow)
        if platform is not None:
            query = query.where(
                ChangeRow.doc_id.startswith(f"{platform}/", autoescape=True)
            )
        if doc_id is not None:
            query = query.where(ChangeRow.doc_id == doc_id)
        if topic is not None:
            topics = type_coerce(ChangeRow.topics, Text)
            query = query.where(topics.contains(f'"{topic}"', autoescape=True))
        if unreviewed:
            query = query.where(ChangeRow.review.is_(None))
        if not include_technical:
            query = query.where(ChangeRow.technical.is_(False))
        query = query.order_by(ChangeRow.detected_at.desc(), ChangeRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as s:
            return [change_of(row) for row in s.scalars(query).all()]

    def review(
        self,
        change_id: int,
        decision: Literal["accepted", "dismissed"],
        *,
        note: str | None,
        at: datetime,
    ) -> Change:
        """Record a reviewer's decision on a change (a later review replaces it)."""
        if decision not in ("accepted", "dismissed"):
            raise ValueError(
                f"review decision must be accepted or dismissed: {decision!r}"
            )
        at = utc(at)
        with self._write() as s:
            row = s.get(ChangeRow, change_id)
            if row is None:
                raise StoreError(f"no change #{change_id}")
            row.review = decision
            row.reviewed_at = at
            row.note = note
            s.flush()
            return change_of(row)

    def attach_facts(self, change_id: int, fact_ids: Sequence[str]) -> Change:
        """Record facts whose verdict moved with this change; its severity becomes "alert"."""
        with self._write() as s:
            row = s.get(ChangeRow, change_id)
            if row is None:
                raise StoreError(f"no change #{change_id}")
            row.facts = list(dict.fromkeys([*row.facts, *fact_ids]))
            row.severity = "alert"
            s.flush()
            return change_of(row)
