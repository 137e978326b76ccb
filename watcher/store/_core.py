"""The base of ``SnapshotStore``: its state, schema upkeep and transactions.

``StoreCore`` opens the engine and (unless ``migrate=False``) migrates; the mixins that make
up ``SnapshotStore`` share its primitives: ``_read`` and ``_write`` sessions (database errors
become ``StoreError``), the newest snapshot row of a document, snapshot files through an
in-memory cache of texts, and the outbox insert that several writers make in their own
transaction.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watcher.errors import StoreError
from watcher.models import AlertEvent, Snapshot
from watcher.store import _engine, _files
from watcher.store._records import snapshot_of
from watcher.store._tables import EventRow, SnapshotRow

__all__ = ["StoreCore"]

# Snapshot texts kept in memory, by their size: the latest texts of a few hundred typical
# documents (a diff then reads no file), while a cycle over a thousand long pages stays
# within a few megabytes of its working set.
TEXT_CACHE_CHARS = 8_000_000


def _upsert_for(dialect: str) -> Any:
    """The INSERT with ON CONFLICT of ``dialect``; only that dialect's module is imported."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


# Built once: making the statement costs twice what running it does, and every save asks
_LATEST_META = (
    select(SnapshotRow.id, SnapshotRow.text_sha256)
    .where(SnapshotRow.doc_id == bindparam("doc_id"))
    .order_by(SnapshotRow.id.desc())
    .limit(1)
)


class StoreCore:
    """The engine, sessions and text cache every part of the store uses."""

    def __init__(self, url: str, snapshots_dir: Path, *, migrate: bool = True) -> None:
        self._root = Path(snapshots_dir).absolute()
        self._engine = _engine.create_engine(url)
        self._url = self._engine.url.render_as_string(hide_password=True)
        self._insert = _upsert_for(self._engine.dialect.name)
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self._engine.execution_options(watcher_write=True), expire_on_commit=False
        )
        self._texts: OrderedDict[int, str] = OrderedDict()
        self._texts_chars = 0
        self._texts_lock = threading.Lock()
        if migrate:
            try:
                self.migrate()
            except BaseException:
                self._engine.dispose()
                raise

    # ------------------------------------------------------------------ schema

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (default: the newest).

        Safe to run from several processes at once (SQLite: the write lock; PostgreSQL: an
        advisory lock) and from several threads (a process-wide lock).
        """
        _engine.migrate(self._engine, self._url, revision)

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: empty database)."""
        return _engine.schema_revision(self._engine, self._url)

    def close(self) -> None:
        self._engine.dispose()

    # ------------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._reader() as session:
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    @contextlib.contextmanager
    def _write(self, lock: str | None = None) -> Iterator[Session]:
        """One write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: optional advisory lock)."""
        try:
            with self._writer.begin() as session:
                if lock is not None:
                    _engine.lock(session.connection(), lock)
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"database write failed: {exc}") from exc

    def _insert_events(
        self, s: Session, events: Sequence[AlertEvent], at: datetime
    ) -> int:
        """Queue events in ``s``'s transaction, skipping known keys; returns how many were new."""
        new = 0
        for e in events:
            stmt = (
                self._insert(EventRow)
                .values(
                    key=e.key,
                    kind=e.kind,
                    severity=e.severity,
                    platform=e.platform,
                    doc_id=e.doc_id,
                    topics=list(e.topics),
                    subject=e.subject,
                    payload=dict(e.payload),
                    created_at=at,
                    done=False,
                )
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(EventRow.id)
            )
            new += len(s.execute(stmt).all())
        return new

    # ------------------------------------------------------------------ snapshot rows

    @staticmethod
    def _latest_row(s: Session, doc_id: str) -> SnapshotRow | None:
        return s.scalars(
            select(SnapshotRow)
            .where(SnapshotRow.doc_id == doc_id)
            .order_by(SnapshotRow.id.desc())
            .limit(1)
        ).first()

    @staticmethod
    def _latest_meta(s: Session, doc_id: str) -> tuple[int, str] | None:
        found = s.execute(_LATEST_META, {"doc_id": doc_id}).first()
        return None if found is None else (found[0], found[1])

    def _snapshot(self, row: SnapshotRow) -> Snapshot:
        return snapshot_of(row, self._read_text(row))

    def _remember(self, snapshot_id: int, text: str) -> None:
        if len(text) > TEXT_CACHE_CHARS // 4:
            return  # one huge text would push out everything else
        with self._texts_lock:
            known = self._texts.pop(snapshot_id, None)
            if known is not None:
                self._texts_chars -= len(known)
            self._texts[snapshot_id] = text
            self._texts_chars += len(text)
            while self._texts_chars > TEXT_CACHE_CHARS:
                _, dropped = self._texts.popitem(last=False)
                self._texts_chars -= len(dropped)

    def _read_text(self, row: SnapshotRow, *, cached: bool = True) -> str:
        if cached:
            with self._texts_lock:
                known = self._texts.get(row.id)
            if known is not None:
                return known
        text = _files.read_text(self._root, row)
        self._remember(row.id, text)
        return text

    def _read_raw(self, row: SnapshotRow) -> bytes:
        return _files.read_raw(self._root, row)
