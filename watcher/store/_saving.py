"""Saving snapshots: files first, then the snapshot, change, attempt and events in one go.

A text whose hash equals the latest snapshot's writes no file. Otherwise the files are written
before the rows that refer to them are committed, so a crash leaves at worst an unreferenced
file; files of a save that fails are removed again.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Insert, Table, insert
from sqlalchemy.orm import Session

from watcher.errors import StoreError
from watcher.models import (
    AlertEvent,
    Change,
    ChangeDraft,
    Extracted,
    FetchResult,
    Snapshot,
    UnchangedCheck,
)
from watcher.store import _files
from watcher.store._attempts import Attempts
from watcher.store._records import (
    change_of,
    change_row,
    check_doc_id,
    check_extracted,
    row_values,
    snapshot_of,
    unchanged_attempt_row,
    utc,
)
from watcher.store._snapshots import Snapshots
from watcher.store._tables import AttemptRow, ChangeRow, SnapshotRow

__all__ = ["Saving"]

# the package's logger, which these lines went to before the store became a package
logger = logging.getLogger("watcher.store")


class Saving(Snapshots, Attempts):
    """The snapshot writes of ``SnapshotStore``."""

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
        files, then the snapshot row, the change row (latest -> new; none when ``change`` is
        None), a "changed" attempt and ``events(change)`` in the outbox, committed together.
        """
        check_doc_id(doc_id)
        check_extracted(extracted)
        at = utc(fetched.fetched_at)
        files: _files.SnapshotFiles | None = None
        try:
            # the latest snapshot is read, the files written and the rows inserted under the
            # document's write lock: no other save can slip in between, so one transaction
            # does what a read, the files and a second transaction would
            with self._write(lock=doc_id) as s:
                prev = self._latest_meta(s, doc_id)
                if prev is not None and prev[1] == extracted.text_sha256:
                    check = UnchangedCheck(
                        doc_id, at, fetched.validators, prev[0], False
                    )
                    s.add(unchanged_attempt_row(check))
                    latest = s.get(SnapshotRow, prev[0])
                    assert latest is not None
                    return self._snapshot(latest), None
                files = _files.write_files(
                    self._root, doc_id, at, extracted.text, fetched.body
                )
                result = self._insert_snapshot(
                    s, doc_id, at, fetched, extracted, files, prev, change, events
                )
        except BaseException:
            if files is not None:
                files.remove(self._root)  # nothing refers to them
            raise
        logger.info(
            "%s: stored snapshot #%d (%s)",
            doc_id,
            result[0].id,
            "baseline" if result[1] is None else f"change #{result[1].id}",
        )
        return result

    def _insert_snapshot(
        self,
        s: Session,
        doc_id: str,
        at: datetime,
        fetched: FetchResult,
        extracted: Extracted,
        files: _files.SnapshotFiles,
        prev: tuple[int, str] | None,
        change: ChangeDraft | None,
        events: Callable[[Change], Sequence[AlertEvent]] | None,
    ) -> tuple[Snapshot, Change | None]:
        """The rows of a new snapshot whose files are written (``save``'s transaction)."""
        row = SnapshotRow(
            doc_id=doc_id,
            fetched_at=at,
            text_sha256=extracted.text_sha256,
            body_sha256=hashlib.sha256(fetched.body).hexdigest(),
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
        # INSERT ... RETURNING rather than the unit of work's flush: three rows that nothing
        # else in the session touches, and a baseline cycle saves a thousand documents
        row.id = _insert(s, row)
        new_row = None
        if prev is not None and change is not None:
            new_row = change_row(doc_id, prev[0], row.id, at, change)
            new_row.id = _insert(s, new_row)
        _insert(
            s,
            AttemptRow(
                doc_id=doc_id,
                at=at,
                outcome="baseline" if prev is None else "changed",
                transient=False,
                snapshot_id=row.id,
                etag=fetched.validators.etag,
                last_modified=fetched.validators.last_modified,
            ),
        )
        new_change = None if new_row is None else change_of(new_row)
        if new_change is not None and events is not None:
            self._insert_events(s, events(new_change), at)
        self._remember(row.id, extracted.text)
        return snapshot_of(row, extracted.text), new_change

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
        check_doc_id(doc_id)
        check_extracted(extracted)
        at = utc(at)
        latest = self.latest_meta(doc_id)
        if latest is not None and latest[1] == extracted.text_sha256:
            known = self.latest(doc_id)
            assert known is not None
            return known, None
        files = _files.write_files(self._root, doc_id, at, extracted.text, None)
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
            new_row = change_row(doc_id, prev.id, row.id, at, draft)
            s.add(new_row)
            s.flush()
            self._remember(row.id, extracted.text)
            return snapshot_of(row, extracted.text), change_of(new_row)


def _insert(s: Session, row: SnapshotRow | ChangeRow | AttemptRow) -> int:
    """INSERT a new ``row`` (its set columns, as parameters of one statement per table)."""
    table = cast("Table", type(row).__table__)
    return int(s.execute(_inserts(table), row_values(row)).scalar_one())


@functools.cache
def _inserts(table: Table) -> Insert:
    return insert(table).returning(table.c.id)
