"""Reading snapshots: by id, newest, at a time, all of a document; raw bodies and fetches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from watcher.errors import StoreError
from watcher.models import FetchResult, Snapshot, Validators
from watcher.store._core import StoreCore
from watcher.store._records import utc
from watcher.store._tables import SnapshotRow

__all__ = ["Snapshots"]


class Snapshots(StoreCore):
    """The snapshot reads of ``SnapshotStore``."""

    def latest(self, doc_id: str) -> Snapshot | None:
        """The newest snapshot of the document, technical ones included."""
        with self._read() as s:
            row = self._latest_row(s, doc_id)
            return None if row is None else self._snapshot(row)

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        with self._read() as s:
            row = s.get(SnapshotRow, snapshot_id)
            return None if row is None else self._snapshot(row)

    def snapshot_at(self, doc_id: str, at: datetime) -> Snapshot | None:
        """The newest snapshot with ``fetched_at <= at``."""
        at = utc(at)
        with self._read() as s:
            row = s.scalars(
                select(SnapshotRow)
                .where(SnapshotRow.doc_id == doc_id, SnapshotRow.fetched_at <= at)
                .order_by(SnapshotRow.fetched_at.desc(), SnapshotRow.id.desc())
                .limit(1)
            ).first()
            return None if row is None else self._snapshot(row)

    def snapshots(self, doc_id: str) -> list[Snapshot]:
        """Every snapshot of the document, oldest first."""
        with self._read() as s:
            rows = s.scalars(
                select(SnapshotRow)
                .where(SnapshotRow.doc_id == doc_id)
                .order_by(SnapshotRow.id)
            ).all()
            return [self._snapshot(row) for row in rows]

    def latest_meta(self, doc_id: str) -> tuple[int, str] | None:
        """(id, text_sha256) of the newest snapshot, without reading its file."""
        with self._read() as s:
            return self._latest_meta(s, doc_id)

    def raw_body(self, snapshot_id: int) -> bytes:
        """The raw body the snapshot was extracted from, decompressed."""
        with self._read() as s:
            row = s.get(SnapshotRow, snapshot_id)
            if row is None:
                raise StoreError(f"no snapshot #{snapshot_id}")
            return self._read_raw(row)

    def fetch_result(self, snapshot_id: int) -> FetchResult:
        """The fetch a snapshot came from, rebuilt from its raw body (for re-extraction)."""
        with self._read() as s:
            row = s.get(SnapshotRow, snapshot_id)
            if row is None:
                raise StoreError(f"no snapshot #{snapshot_id}")
            body = self._read_raw(row)
        try:
            text = body.decode(row.encoding or "utf-8", errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        return FetchResult(
            url=row.url or "",
            final_url=row.final_url or row.url or "",
            status=200,
            body=body,
            text=text,
            content_type=row.content_type,
            encoding=row.encoding,
            validators=Validators(),
            fetched_at=row.fetched_at,
        )
