"""Upkeep: the daemon's heartbeat, a consistency check, and the sweep of orphan files."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select

from watcher.errors import StoreError
from watcher.store import _files
from watcher.store._core import StoreCore
from watcher.store._records import utc
from watcher.store._tables import ChangeRow, MetaRow, SnapshotRow

__all__ = ["Upkeep"]

_HEARTBEAT = "heartbeat"


class Upkeep(StoreCore):
    """The health and maintenance methods of ``SnapshotStore``."""

    def heartbeat(self, at: datetime, info: Mapping[str, object] | None = None) -> None:
        """Record that the daemon is alive, with a small JSON-serialisable ``info``."""
        at = utc(at)
        value = dict(info or {})
        stmt = self._insert(MetaRow).values(key=_HEARTBEAT, value=value, updated_at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        with self._write() as s:
            s.execute(stmt)

    def last_heartbeat(self) -> tuple[datetime, dict[str, object]] | None:
        with self._read() as s:
            row = s.get(MetaRow, _HEARTBEAT)
            return None if row is None else (row.updated_at, dict(row.value))

    def verify(self) -> list[str]:
        """Check every snapshot's files and hashes and every change's snapshots.

        Returns one line per problem (an empty list: the store is consistent).
        """
        problems: list[str] = []
        with self._read() as s:
            for row in s.scalars(select(SnapshotRow).order_by(SnapshotRow.id)):
                try:
                    text = self._read_text(row, cached=False)
                    if row.raw_path is not None:
                        body = self._read_raw(row)
                        if hashlib.sha256(body).hexdigest() != row.body_sha256:
                            problems.append(
                                f"snapshot #{row.id}: raw body hash differs"
                            )
                except StoreError as exc:
                    problems.append(str(exc))
                    continue
                if len(text.encode("utf-8")) != row.text_size:
                    problems.append(f"snapshot #{row.id}: text size differs")
            ids = set(s.scalars(select(SnapshotRow.id)).all())
            for c in s.scalars(select(ChangeRow).order_by(ChangeRow.id)):
                if c.from_snapshot not in ids or c.to_snapshot not in ids:
                    problems.append(f"change #{c.id}: a snapshot is missing")
        return problems

    def sweep_orphans(self, older_than: timedelta = timedelta(hours=1)) -> int:
        """Delete snapshot files (and temporary files) no row refers to; returns how many.

        Only files older than ``older_than`` go, so a save in progress elsewhere keeps its
        files.
        """
        with self._read() as s:
            used: set[str] = set()
            for text_path, raw_path in s.execute(
                select(SnapshotRow.text_path, SnapshotRow.raw_path)
            ):
                used.add(text_path)
                if raw_path is not None:
                    used.add(raw_path)
        return _files.sweep(self._root, used, older_than)
