"""The store: dated snapshots of every document, checks, changes, verdicts and the outbox.

``SnapshotStore(url, snapshots_dir)`` opens SQLite (``sqlite:///path``, the parent directory
is created; WAL, foreign keys, busy timeout) or PostgreSQL (``postgresql+psycopg://...``) with
the same code, and brings the schema to the newest Alembic revision unless ``migrate=False``.

Files and rows. The raw body (gzip) and the extracted text (``.txt``, ``.txt.gz`` when large)
of a snapshot live under ``<snapshots_dir>/<platform>/<document>/<UTC stamp>-<sha[:12]>``; the
database is their index. Files are written atomically (temporary file in the same directory,
fsync, ``os.replace``, directory fsync) *before* the transaction that inserts the snapshot
row, its change row, its attempt row and its outbox events. A crash therefore leaves at worst
an unreferenced file (``sweep_orphans`` removes those), never a row without its files or a
change without its snapshots. A text whose hash equals the latest snapshot's writes no file.

"Newest" means last recorded (highest id) for snapshots and attempts; ``snapshot_at`` goes by
``fetched_at``. Every datetime going in must be timezone-aware; every one coming out is UTC.

Errors: every public method raises ``StoreError`` when the database or a snapshot file cannot
be read or written (a missing or corrupt snapshot file included), or when a row it must act
on does not exist (``review``, ``attach_facts``, ``raw_body``, ``fetch_result``,
``save_technical``'s source, ``mark_event_done``). ``ValueError`` marks a programmer error: a
naive datetime, a malformed document id, an ``Extracted`` whose hash is not its text's.
Exceptions raised by an ``events`` callback propagate unchanged (the transaction is rolled
back); the callbacks run inside the write transaction and must not call the store.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import logging
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Text,
    create_engine,
    event,
    exists,
    func,
    inspect,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from watcher._tables import (
    AttemptRow,
    ChangeRow,
    DeliveryRow,
    EventRow,
    FactBaselineRow,
    MetaRow,
    SnapshotRow,
    VerdictRow,
)
from watcher.errors import StoreError
from watcher.models import (
    AlertEvent,
    Attempt,
    AttemptOutcome,
    Change,
    ChangeDraft,
    Delivery,
    Extracted,
    FetchResult,
    OutboxEvent,
    Severity,
    Snapshot,
    StoredVerdict,
    Validators,
    Verdict,
    VerdictName,
)

__all__ = ["MIGRATIONS_DIR", "SCHEMA_HEAD", "SnapshotStore"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision in MIGRATIONS_DIR (a test checks): a database already there is opened
# without loading alembic at all.
SCHEMA_HEAD = "0002"
# Texts above this size are gzipped; below it they stay plain so grep and diff work on them.
TEXT_GZIP_OVER = 256 * 1024
# How long a SQLite writer waits for another one before failing: a daemon cycle and a CLI
# command may overlap, and no transaction here holds the lock for more than a moment.
BUSY_TIMEOUT_S = 30.0
# Snapshot texts kept in memory: enough for every watched document's latest text.
TEXT_CACHE_SIZE = 256
_DOC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
# what _write_files names files: stamp, text hash, a counter on a clash, suffix
_FILE_NAME = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{12}(-\d+)?\.(raw\.gz|txt|txt\.gz)")
_TEMP_NAME = re.compile(r"\..*\.tmp")
_SUCCESS: tuple[AttemptOutcome, ...] = (
    "baseline",
    "changed",
    "unchanged",
    "not_modified",
)
_HEARTBEAT = "heartbeat"
# alembic's ``context`` and ``op`` are module-level proxies: one migration per process at a time
_ALEMBIC_LOCK = threading.Lock()
_VERSION_TABLE = "alembic_version"  # Alembic's default


class SnapshotStore:
    """Snapshots and their files, attempts, changes, verdicts, outbox; see the module doc."""

    def __init__(self, url: str, snapshots_dir: Path, *, migrate: bool = True) -> None:
        self._root = Path(snapshots_dir).absolute()
        self._engine = _create_engine(url)
        self._url = self._engine.url.render_as_string(hide_password=True)
        self._is_pg = self._engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._is_pg else sqlite.insert
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self._engine.execution_options(watcher_write=True), expire_on_commit=False
        )
        self._texts: OrderedDict[int, str] = OrderedDict()
        self._texts_lock = threading.Lock()
        if migrate:
            try:
                self.migrate()
            except BaseException:
                self._engine.dispose()
                raise

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (default: the newest).

        Safe to run from several processes at once (SQLite: the write lock; PostgreSQL: an
        advisory lock) and from several threads (a process-wide lock).
        """
        if revision in ("head", SCHEMA_HEAD) and self.schema_revision() == SCHEMA_HEAD:
            return
        # imported here: alembic takes longer to import than the rest of the store
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with _ALEMBIC_LOCK, self._engine.connect() as conn:
                conn = conn.execution_options(watcher_write=True)
                with conn.begin():
                    self._lock(conn, "migrate")
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
        except (SQLAlchemyError, CommandError) as exc:
            raise StoreError(f"cannot migrate the database {self._url}: {exc}") from exc

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: empty database)."""
        try:
            with self._engine.connect() as conn:
                if not inspect(conn).has_table(_VERSION_TABLE):
                    return None
                found = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}"))
                return found.scalar()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the database {self._url}: {exc}") from exc

    def close(self) -> None:
        self._engine.dispose()

    # ------------------------------------------------------------------ snapshots

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
        at = _utc(at)
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

    def validators(self, doc_id: str) -> Validators:
        """ETag and Last-Modified of the newest successful check of the document."""
        with self._read() as s:
            row = s.scalars(
                select(AttemptRow)
                .where(AttemptRow.doc_id == doc_id, AttemptRow.outcome.in_(_SUCCESS))
                .order_by(AttemptRow.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return Validators()
            return Validators(etag=row.etag, last_modified=row.last_modified)

    # ------------------------------------------------------------------ attempts

    def record_unchanged(
        self, doc_id: str, at: datetime, validators: Validators, *, not_modified: bool
    ) -> Attempt:
        """Record a check that found the stored text again (304, or the same hash)."""
        _check_doc_id(doc_id)
        at = _utc(at)
        if not_modified and validators == Validators():
            # a 304 without validators confirms the ones we sent
            validators = self.validators(doc_id)
        with self._write() as s:
            latest = self._latest_row(s, doc_id)
            row = AttemptRow(
                doc_id=doc_id,
                at=at,
                outcome="not_modified" if not_modified else "unchanged",
                transient=False,
                snapshot_id=None if latest is None else latest.id,
                etag=validators.etag,
                last_modified=validators.last_modified,
            )
            s.add(row)
            s.flush()
            return _attempt(row)

    def record_failure(
        self,
        doc_id: str,
        at: datetime,
        *,
        error_kind: str,
        transient: bool,
        message: str,
    ) -> Attempt:
        """Record a failed check (fetch or extract)."""
        _check_doc_id(doc_id)
        row = AttemptRow(
            doc_id=doc_id,
            at=_utc(at),
            outcome="failed",
            error_kind=error_kind,
            transient=transient,
            message=message,
        )
        with self._write() as s:
            s.add(row)
            s.flush()
            return _attempt(row)

    def last_attempts(self) -> dict[str, Attempt]:
        """The newest attempt of every document ever checked."""
        newest = select(func.max(AttemptRow.id)).group_by(AttemptRow.doc_id)
        with self._read() as s:
            rows = s.scalars(select(AttemptRow).where(AttemptRow.id.in_(newest))).all()
            return {row.doc_id: _attempt(row) for row in rows}

    def attempts(self, doc_id: str, limit: int = 50) -> list[Attempt]:
        """The document's attempts, newest first."""
        with self._read() as s:
            rows = s.scalars(
                select(AttemptRow)
                .where(AttemptRow.doc_id == doc_id)
                .order_by(AttemptRow.id.desc())
                .limit(limit)
            ).all()
            return [_attempt(row) for row in rows]

    def consecutive_failures(self, doc_id: str) -> int:
        """Failed attempts since the newest successful one (all of them if none succeeded)."""
        with self._read() as s:
            last_ok = s.scalar(
                select(func.max(AttemptRow.id)).where(
                    AttemptRow.doc_id == doc_id, AttemptRow.outcome != "failed"
                )
            )
            query = select(func.count()).where(
                AttemptRow.doc_id == doc_id, AttemptRow.outcome == "failed"
            )
            if last_ok is not None:
                query = query.where(AttemptRow.id > last_ok)
            return int(s.scalar(query) or 0)

    # ------------------------------------------------------------------ saving

    def save(
        self,
        doc_id: str,
        *,
        fetched: FetchResult,
        extracted: Extracted,
        change: ChangeDraft | None,
        events: Callable[[Change], Sequence[AlertEvent]] | None = None,
    ) -> tuple[Snapshot, Change | None]:
        """Store a fetched text; see the class contract.

        Same hash as the latest snapshot: an "unchanged" attempt, ``(latest, None)``, no file.
        First snapshot of the document: a "baseline" attempt and no change row. Otherwise the
        files, then in one transaction the snapshot row, the change row (latest -> new; none
        when ``change`` is None), a "changed" attempt and ``events(change)`` in the outbox.
        """
        _check_doc_id(doc_id)
        _check_extracted(extracted)
        at = _utc(fetched.fetched_at)
        validators = fetched.validators
        latest = self.latest_meta(doc_id)
        if latest is not None and latest[1] == extracted.text_sha256:
            self.record_unchanged(doc_id, at, validators, not_modified=False)
            known = self.latest(doc_id)
            assert known is not None
            return known, None
        files = self._write_files(doc_id, at, extracted.text, fetched.body)
        body_sha = hashlib.sha256(fetched.body).hexdigest()
        with self._write(lock=doc_id) as s:
            prev = self._latest_row(s, doc_id)
            if prev is not None and prev.text_sha256 == extracted.text_sha256:
                # another process stored this very text meanwhile
                s.add(_unchanged_attempt(doc_id, at, validators, prev.id))
                result: tuple[Snapshot, Change | None] = (self._snapshot(prev), None)
                stored = False
            else:
                row = SnapshotRow(
                    doc_id=doc_id,
                    fetched_at=at,
                    text_sha256=extracted.text_sha256,
                    body_sha256=body_sha,
                    version_date=extracted.version_date,
                    technical=False,
                    text_path=files.text_path,
                    text_size=files.text_size,
                    raw_path=files.raw_path,
                    raw_size=len(fetched.body),
                    url=fetched.url,
                    final_url=fetched.final_url,
                    content_type=fetched.content_type,
                    encoding=fetched.encoding,
                )
                s.add(row)
                s.flush()
                change_row = None
                if prev is not None and change is not None:
                    change_row = _change_row(doc_id, prev.id, row.id, at, change)
                    s.add(change_row)
                    s.flush()
                s.add(
                    AttemptRow(
                        doc_id=doc_id,
                        at=at,
                        outcome="baseline" if prev is None else "changed",
                        transient=False,
                        snapshot_id=row.id,
                        etag=validators.etag,
                        last_modified=validators.last_modified,
                    )
                )
                new_change = None if change_row is None else _change(change_row)
                if new_change is not None and events is not None:
                    self._insert_events(s, events(new_change), at)
                self._remember(row.id, extracted.text)
                result = (_snapshot(row, extracted.text), new_change)
                stored = True
        if not stored:
            files.remove(self._root)
        else:
            logger.info(
                "%s: stored snapshot #%d (%s)",
                doc_id,
                result[0].id,
                "baseline" if result[1] is None else f"change #{result[1].id}",
            )
        return result

    def save_technical(
        self,
        doc_id: str,
        *,
        source: Snapshot,
        extracted: Extracted,
        change: ChangeDraft,
        at: datetime,
    ) -> tuple[Snapshot, Change | None]:
        """Store a re-extraction of ``source``'s raw body as a technical snapshot.

        The raw body file is shared with ``source``; the change (latest -> new) is marked
        technical and no outbox event is written. A text equal to the latest one stores
        nothing and returns ``(latest, None)``.
        """
        _check_doc_id(doc_id)
        _check_extracted(extracted)
        at = _utc(at)
        latest = self.latest_meta(doc_id)
        if latest is not None and latest[1] == extracted.text_sha256:
            known = self.latest(doc_id)
            assert known is not None
            return known, None
        files = self._write_files(doc_id, at, extracted.text, None)
        with self._write(lock=doc_id) as s:
            src = s.get(SnapshotRow, source.id)
            if src is None or src.doc_id != doc_id:
                files.remove(self._root)
                raise StoreError(f"{doc_id}: no snapshot #{source.id} of this document")
            prev = self._latest_row(s, doc_id)
            assert prev is not None  # src exists
            if prev.text_sha256 == extracted.text_sha256:
                files.remove(self._root)
                return self._snapshot(prev), None
            row = SnapshotRow(
                doc_id=doc_id,
                fetched_at=at,
                text_sha256=extracted.text_sha256,
                body_sha256=src.body_sha256,
                version_date=extracted.version_date,
                technical=True,
                text_path=files.text_path,
                text_size=files.text_size,
                raw_path=src.raw_path,
                raw_size=src.raw_size,
                url=src.url,
                final_url=src.final_url,
                content_type=src.content_type,
                encoding=src.encoding,
            )
            s.add(row)
            s.flush()
            draft = ChangeDraft(change.severity, change.topics, change.summary, True)
            change_row = _change_row(doc_id, prev.id, row.id, at, draft)
            s.add(change_row)
            s.flush()
            self._remember(row.id, extracted.text)
            return _snapshot(row, extracted.text), _change(change_row)

    def latest_meta(self, doc_id: str) -> tuple[int, str] | None:
        """(id, text_sha256) of the newest snapshot, without reading its file."""
        with self._read() as s:
            found = s.execute(
                select(SnapshotRow.id, SnapshotRow.text_sha256)
                .where(SnapshotRow.doc_id == doc_id)
                .order_by(SnapshotRow.id.desc())
                .limit(1)
            ).first()
            return None if found is None else (found[0], found[1])

    # ------------------------------------------------------------------ changes

    def change(self, change_id: int) -> Change | None:
        with self._read() as s:
            row = s.get(ChangeRow, change_id)
            return None if row is None else _change(row)

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
            return [_change(row) for row in s.scalars(query).all()]

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
        at = _utc(at)
        with self._write() as s:
            row = s.get(ChangeRow, change_id)
            if row is None:
                raise StoreError(f"no change #{change_id}")
            row.review = decision
            row.reviewed_at = at
            row.note = note
            s.flush()
            return _change(row)

    def attach_facts(self, change_id: int, fact_ids: Sequence[str]) -> Change:
        """Record facts whose verdict moved with this change; its severity becomes "alert"."""
        with self._write() as s:
            row = s.get(ChangeRow, change_id)
            if row is None:
                raise StoreError(f"no change #{change_id}")
            row.facts = list(dict.fromkeys([*row.facts, *fact_ids]))
            row.severity = "alert"
            s.flush()
            return _change(row)

    # ------------------------------------------------------------------ verdicts

    def record_verdicts(
        self,
        verdicts: Sequence[tuple[Verdict, tuple[int, ...]]],
        at: datetime,
        *,
        events: Callable[[Verdict, StoredVerdict | None], Sequence[AlertEvent]]
        | None = None,
    ) -> list[tuple[Verdict, StoredVerdict | None]]:
        """Store each verdict with the snapshot ids it read; return the ones that moved.

        A move is a verdict value different from the fact's previous one; a fact's first
        evaluation is not a move. ``events(verdict, previous)`` is called for each move and
        its events go to the outbox in the same transaction.
        """
        at = _utc(at)
        moved: list[tuple[Verdict, StoredVerdict | None]] = []
        with self._write(lock="verdicts") as s:
            for verdict, snapshot_ids in verdicts:
                prev_row = s.scalars(
                    select(VerdictRow)
                    .where(VerdictRow.fact_id == verdict.fact_id)
                    .order_by(VerdictRow.id.desc())
                    .limit(1)
                ).first()
                previous = None if prev_row is None else _stored_verdict(prev_row)
                same = (
                    previous is not None and previous.verdict.verdict == verdict.verdict
                )
                since = previous.since if same and previous is not None else at
                s.add(_verdict_row(verdict, snapshot_ids, at, since))
                s.flush()
                if previous is not None and not same:
                    moved.append((verdict, previous))
                    if events is not None:
                        self._insert_events(s, events(verdict, previous), at)
        return moved

    def current_verdicts(self) -> dict[str, StoredVerdict]:
        """The newest verdict of every fact ever evaluated."""
        newest = select(func.max(VerdictRow.id)).group_by(VerdictRow.fact_id)
        with self._read() as s:
            rows = s.scalars(select(VerdictRow).where(VerdictRow.id.in_(newest))).all()
            return {row.fact_id: _stored_verdict(row) for row in rows}

    def verdict_history(self, fact_id: str) -> list[StoredVerdict]:
        """Every evaluation of the fact, oldest first."""
        with self._read() as s:
            rows = s.scalars(
                select(VerdictRow)
                .where(VerdictRow.fact_id == fact_id)
                .order_by(VerdictRow.id)
            ).all()
            return [_stored_verdict(row) for row in rows]

    def fact_baseline(self, fact_id: str) -> str | None:
        """The quote a reviewer re-baselined for this fact, if any."""
        with self._read() as s:
            row = s.get(FactBaselineRow, fact_id)
            return None if row is None else row.text

    def set_fact_baseline(self, fact_id: str, text: str, at: datetime) -> None:
        at = _utc(at)
        stmt = self._insert(FactBaselineRow).values(
            fact_id=fact_id, text=text, set_at=at
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["fact_id"], set_={"text": text, "set_at": at}
        )
        with self._write() as s:
            s.execute(stmt)

    # ------------------------------------------------------------------ outbox

    def add_events(self, events: Sequence[AlertEvent], at: datetime) -> int:
        """Queue events; an event whose key is already queued is ignored. Returns how many were new."""
        at = _utc(at)
        with self._write() as s:
            return self._insert_events(s, events, at)

    def pending_events(self) -> list[OutboxEvent]:
        """Events not marked done, oldest first, each with its deliveries."""
        with self._read() as s:
            rows = s.scalars(
                select(EventRow)
                .where(EventRow.done.is_(False))
                .order_by(EventRow.created_at, EventRow.id)
            ).all()
            deliveries: dict[int, list[Delivery]] = {row.id: [] for row in rows}
            if rows:
                for d in s.scalars(
                    select(DeliveryRow)
                    .where(DeliveryRow.event_id.in_(list(deliveries)))
                    .order_by(DeliveryRow.id)
                ).all():
                    deliveries[d.event_id].append(_delivery(d))
            return [_event(row, deliveries[row.id]) for row in rows]

    def claim_delivery(
        self, event_id: int, channel: str, at: datetime, lease: timedelta
    ) -> bool:
        """Atomically take (event, channel) for sending and count one attempt.

        False when it was sent, given up, its event is done, or another sender claimed it
        less than ``lease`` ago; of two senders at once exactly one gets True. The caller
        checks ``Delivery.next_try_at`` itself.
        """
        at = _utc(at)
        with self._write() as s:
            self._ensure_delivery(s, event_id, channel)
            result = s.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.event_id == event_id,
                    DeliveryRow.channel == channel,
                    DeliveryRow.sent_at.is_(None),
                    DeliveryRow.failed_at.is_(None),
                    or_(
                        DeliveryRow.claimed_at.is_(None),
                        DeliveryRow.claimed_at <= at - lease,
                    ),
                    exists().where(EventRow.id == event_id, EventRow.done.is_(False)),
                )
                .values(claimed_at=at, attempts=DeliveryRow.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            return cast("CursorResult[Any]", result).rowcount == 1

    def mark_sent(self, event_id: int, channel: str, at: datetime) -> None:
        self._update_delivery(event_id, channel, sent_at=_utc(at), claimed_at=None)

    def mark_retry(
        self,
        event_id: int,
        channel: str,
        at: datetime,
        error: str,
        next_try_at: datetime,
    ) -> None:
        _utc(at)
        self._update_delivery(
            event_id,
            channel,
            last_error=error,
            next_try_at=_utc(next_try_at),
            claimed_at=None,
        )

    def mark_given_up(
        self, event_id: int, channel: str, at: datetime, error: str
    ) -> None:
        self._update_delivery(
            event_id, channel, failed_at=_utc(at), last_error=error, claimed_at=None
        )

    def mark_event_done(self, event_id: int) -> None:
        """Take the event out of ``pending_events`` (every channel is sent or given up)."""
        with self._write() as s:
            result = s.execute(
                update(EventRow)
                .where(EventRow.id == event_id)
                .values(done=True)
                .execution_options(synchronize_session=False)
            )
            if cast("CursorResult[Any]", result).rowcount != 1:
                raise StoreError(f"no outbox event #{event_id}")

    def failed_deliveries(self) -> list[tuple[OutboxEvent, Delivery]]:
        """Every delivery given up on, oldest failure first, with its event."""
        with self._read() as s:
            pairs = s.execute(
                select(DeliveryRow, EventRow)
                .join(EventRow, EventRow.id == DeliveryRow.event_id)
                .where(DeliveryRow.failed_at.is_not(None))
                .order_by(DeliveryRow.failed_at, DeliveryRow.id)
            ).all()
            out = []
            for d, e in pairs:
                siblings = s.scalars(
                    select(DeliveryRow)
                    .where(DeliveryRow.event_id == e.id)
                    .order_by(DeliveryRow.id)
                ).all()
                out.append((_event(e, [_delivery(x) for x in siblings]), _delivery(d)))
            return out

    # ------------------------------------------------------------------ daemon health

    def heartbeat(self, at: datetime, info: Mapping[str, object] | None = None) -> None:
        """Record that the daemon is alive, with a small JSON-serialisable ``info``."""
        at = _utc(at)
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

    # ------------------------------------------------------------------ upkeep

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
        cutoff = datetime.now(UTC).timestamp() - older_than.total_seconds()
        removed = 0
        try:
            for path in self._root.glob("*/*/*"):
                name = path.name
                ours = _FILE_NAME.fullmatch(name) or _TEMP_NAME.fullmatch(name)
                rel = path.relative_to(self._root).as_posix()
                if not ours or rel in used or not path.is_file():
                    continue
                if path.stat().st_mtime > cutoff:
                    continue
                path.unlink()
                removed += 1
                logger.info("removed orphan snapshot file %s", rel)
        except OSError as exc:
            raise StoreError(f"cannot sweep {self._root}: {exc}") from exc
        return removed

    # ------------------------------------------------------------------ internals

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
                    self._lock(session.connection(), lock)
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"database write failed: {exc}") from exc

    def _lock(self, conn: Connection, name: str) -> None:
        if self._is_pg:
            key = int.from_bytes(
                hashlib.sha256(name.encode()).digest()[:8], "big", signed=True
            )
            conn.execute(select(func.pg_advisory_xact_lock(key)))

    @staticmethod
    def _latest_row(s: Session, doc_id: str) -> SnapshotRow | None:
        return s.scalars(
            select(SnapshotRow)
            .where(SnapshotRow.doc_id == doc_id)
            .order_by(SnapshotRow.id.desc())
            .limit(1)
        ).first()

    def _snapshot(self, row: SnapshotRow) -> Snapshot:
        return _snapshot(row, self._read_text(row))

    def _remember(self, snapshot_id: int, text: str) -> None:
        with self._texts_lock:
            self._texts[snapshot_id] = text
            self._texts.move_to_end(snapshot_id)
            while len(self._texts) > TEXT_CACHE_SIZE:
                self._texts.popitem(last=False)

    def _read_text(self, row: SnapshotRow, *, cached: bool = True) -> str:
        if cached:
            with self._texts_lock:
                known = self._texts.get(row.id)
            if known is not None:
                return known
        path = self._root / row.text_path
        try:
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)
            text = data.decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise StoreError(f"snapshot #{row.id}: cannot read {path}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != row.text_sha256:
            raise StoreError(f"snapshot #{row.id}: {path} does not match its hash")
        self._remember(row.id, text)
        return text

    def _read_raw(self, row: SnapshotRow) -> bytes:
        if row.raw_path is None:
            raise StoreError(f"snapshot #{row.id} has no raw body")
        path = self._root / row.raw_path
        try:
            return gzip.decompress(path.read_bytes())
        except (OSError, EOFError) as exc:
            raise StoreError(f"snapshot #{row.id}: cannot read {path}: {exc}") from exc

    def _write_files(
        self, doc_id: str, at: datetime, text: str, body: bytes | None
    ) -> _Files:
        """Write the text (and raw body) files atomically; return their relative paths."""
        platform, document = doc_id.split("/", 1)
        directory = self._root / platform / document
        data = text.encode("utf-8")
        text_suffix = ".txt.gz" if len(data) > TEXT_GZIP_OVER else ".txt"
        stem = (
            f"{at.strftime('%Y%m%dT%H%M%SZ')}-{hashlib.sha256(data).hexdigest()[:12]}"
        )
        size = len(data)
        if text_suffix == ".txt.gz":
            data = gzip.compress(data, mtime=0)
        raw = None if body is None else gzip.compress(body, mtime=0)
        try:
            _make_dirs(self._root, directory)
            # The text file claims the name; a name in use (same second, same text: another
            # process, or a text that came back) gets a counter. Never overwrite a file.
            n = 1
            while True:
                name = stem if n == 1 else f"{stem}-{n}"
                text_file = directory / f"{name}{text_suffix}"
                if _write_new(text_file, data):
                    if raw is None or _write_new(directory / f"{name}.raw.gz", raw):
                        break
                    text_file.unlink()
                n += 1
            _fsync_dir(directory)
        except OSError as exc:
            raise StoreError(f"{doc_id}: cannot write snapshot files: {exc}") from exc
        rel = f"{platform}/{document}/{name}"
        return _Files(
            f"{rel}{text_suffix}", size, None if raw is None else f"{rel}.raw.gz"
        )

    def _insert_events(
        self, s: Session, events: Sequence[AlertEvent], at: datetime
    ) -> int:
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

    def _ensure_delivery(self, s: Session, event_id: int, channel: str) -> None:
        s.execute(
            self._insert(DeliveryRow)
            .values(event_id=event_id, channel=channel, attempts=0)
            .on_conflict_do_nothing(index_elements=["event_id", "channel"])
        )

    def _update_delivery(self, event_id: int, channel: str, **values: object) -> None:
        with self._write() as s:
            self._ensure_delivery(s, event_id, channel)
            s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.event_id == event_id, DeliveryRow.channel == channel)
                .values(**values)
                .execution_options(synchronize_session=False)
            )


# ---------------------------------------------------------------------- engine


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {exc}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    if backend != "sqlite":
        raise StoreError(f"unsupported database {backend!r}: use sqlite or postgresql")
    database = parsed.database
    memory = not database or database == ":memory:"
    if not memory and not parsed.query.get("uri"):
        assert database is not None
        # absolute, so a later change of working directory cannot move the database
        database = str(Path(database).absolute())
        parsed = parsed.set(database=database)
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory of {database}: {exc}"
            ) from exc
    engine = create_engine(
        parsed,
        connect_args={"timeout": BUSY_TIMEOUT_S},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # we issue BEGIN ourselves (below), so pysqlite must not
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            _set_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # writers take the lock up front, so two writers never deadlock on an upgrade
        write = conn.get_execution_options().get("watcher_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _set_wal(cursor: sqlite3.Cursor) -> None:
    """Switch to WAL; on a new database that other processes open at the same moment.

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting, when waiting could deadlock; so wait and try again here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# ---------------------------------------------------------------------- files


class _Files:
    """Paths (relative to the snapshots directory) of one snapshot's new files."""

    __slots__ = ("raw_path", "text_path", "text_size")

    def __init__(self, text_path: str, text_size: int, raw_path: str | None) -> None:
        self.text_path = text_path
        self.text_size = text_size
        self.raw_path = raw_path

    def remove(self, root: Path) -> None:
        """Delete files that turned out not to be needed (best effort: orphans are harmless)."""
        for rel in (self.text_path, self.raw_path):
            if rel is not None:
                with contextlib.suppress(OSError):
                    (root / rel).unlink()


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``path`` atomically unless it exists (then False): temp file, fsync, publish.

    Publishing is ``os.link``, which, unlike ``os.replace``, fails on an existing name; on a
    filesystem without hard links it falls back to a check and ``os.replace``.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(root: Path, directory: Path) -> None:
    """Create ``directory`` under ``root``, syncing each parent a new entry was added to."""
    missing = []
    current = directory
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        _fsync_dir(path.parent)


# ---------------------------------------------------------------------- records


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: the store needs timezone-aware times")
    return at.astimezone(UTC)


def _check_doc_id(doc_id: str) -> None:
    if not _DOC_ID.fullmatch(doc_id) or ".." in doc_id:
        raise ValueError(f"bad document id {doc_id!r}: expected <platform>/<document>")


def _check_extracted(extracted: Extracted) -> None:
    actual = hashlib.sha256(extracted.text.encode("utf-8")).hexdigest()
    if actual != extracted.text_sha256:
        raise ValueError("Extracted.text_sha256 is not the SHA-256 of its text")


def _snapshot(row: SnapshotRow, text: str) -> Snapshot:
    return Snapshot(
        id=row.id,
        doc_id=row.doc_id,
        fetched_at=row.fetched_at,
        text=text,
        text_sha256=row.text_sha256,
        body_sha256=row.body_sha256,
        version_date=row.version_date,
        technical=row.technical,
    )


def _attempt(row: AttemptRow) -> Attempt:
    return Attempt(
        doc_id=row.doc_id,
        at=row.at,
        outcome=cast("AttemptOutcome", row.outcome),
        error_kind=row.error_kind,
        transient=row.transient,
        message=row.message,
        snapshot_id=row.snapshot_id,
    )


def _unchanged_attempt(
    doc_id: str, at: datetime, validators: Validators, snapshot_id: int
) -> AttemptRow:
    return AttemptRow(
        doc_id=doc_id,
        at=at,
        outcome="unchanged",
        transient=False,
        snapshot_id=snapshot_id,
        etag=validators.etag,
        last_modified=validators.last_modified,
    )


def _change_row(
    doc_id: str, from_id: int, to_id: int, at: datetime, draft: ChangeDraft
) -> ChangeRow:
    return ChangeRow(
        doc_id=doc_id,
        from_snapshot=from_id,
        to_snapshot=to_id,
        detected_at=at,
        severity=draft.severity,
        topics=list(draft.topics),
        summary=draft.summary,
        technical=draft.technical,
        facts=[],
    )


def _change(row: ChangeRow) -> Change:
    return Change(
        id=row.id,
        doc_id=row.doc_id,
        from_snapshot=row.from_snapshot,
        to_snapshot=row.to_snapshot,
        detected_at=row.detected_at,
        severity=cast("Severity", row.severity),
        topics=tuple(row.topics),
        summary=row.summary,
        technical=row.technical,
        facts=tuple(row.facts or ()),
        review=cast("Literal['accepted', 'dismissed'] | None", row.review),
        reviewed_at=row.reviewed_at,
        note=row.note,
    )


def _verdict_row(
    verdict: Verdict, snapshot_ids: tuple[int, ...], at: datetime, since: datetime
) -> VerdictRow:
    return VerdictRow(
        fact_id=verdict.fact_id,
        verdict=verdict.verdict,
        checked_at=at,
        since=since,
        reasons=list(verdict.reasons),
        evidence={
            "text": verdict.evidence,
            "heading": list(verdict.evidence_heading),
            "doc": verdict.evidence_doc,
            "quote_diff": [[op, text] for op, text in verdict.quote_diff],
        },
        snapshot_ids=list(snapshot_ids),
        closeness=verdict.closeness,
    )


def _stored_verdict(row: VerdictRow) -> StoredVerdict:
    ev = row.evidence
    verdict = Verdict(
        fact_id=row.fact_id,
        verdict=cast("VerdictName", row.verdict),
        reasons=tuple(row.reasons),
        evidence=ev.get("text"),
        evidence_heading=tuple(ev.get("heading") or ()),
        evidence_doc=ev.get("doc"),
        closeness=row.closeness,
        quote_diff=tuple(
            (int(op), str(text)) for op, text in ev.get("quote_diff") or ()
        ),
    )
    return StoredVerdict(
        verdict=verdict,
        checked_at=row.checked_at,
        since=row.since,
        snapshot_ids=tuple(row.snapshot_ids),
    )


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        event_id=row.event_id,
        channel=row.channel,
        attempts=row.attempts,
        claimed_at=row.claimed_at,
        next_try_at=row.next_try_at,
        sent_at=row.sent_at,
        failed_at=row.failed_at,
        last_error=row.last_error,
    )


def _event(row: EventRow, deliveries: Sequence[Delivery]) -> OutboxEvent:
    return OutboxEvent(
        id=row.id,
        event=AlertEvent(
            key=row.key,
            kind=cast("Literal['change', 'fact', 'failing', 'recovered']", row.kind),
            severity=cast("Severity", row.severity),
            platform=row.platform,
            doc_id=row.doc_id,
            topics=tuple(row.topics),
            subject=row.subject,
            payload=dict(row.payload),
        ),
        created_at=row.created_at,
        deliveries=tuple(deliveries),
    )
