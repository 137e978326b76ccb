"""Saving snapshots: files first, then the snapshot, change, attempt and events in one go.

A text whose hash equals the latest snapshot's writes no file. Otherwise the files are written
before the transaction that inserts the rows, so a crash leaves at worst an unreferenced file;
files a concurrent save made unnecessary are removed again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from watcher.errors import StoreError
from watcher.models import (
    AlertEvent,
    Change,
    ChangeDraft,
    Extracted,
    FetchResult,
    Snapshot,
)
from watcher.store import _files
from watcher.store._attempts import Attempts
from watcher.store._records import (
    change_of,
    change_row,
    check_doc_id,
    check_extracted,
    snapshot_of,
    unchanged_attempt_row,
    utc,
)
from watcher.store._snapshots import Snapshots
from watcher.store._tables import AttemptRow, SnapshotRow

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
        files, then in one transaction the snapshot row, the change row (latest -> new; none
        when ``change`` is None), a "changed" attempt and ``events(change)`` in the outbox.
        """
        check_doc_id(doc_id)
        check_extracted(extracted)
        at = utc(fetched.fetched_at)
        validators = fetched.validators
        latest = self.latest_meta(doc_id)
        if latest is not None and latest[1] == extracted.text_sha256:
            self.record_unchanged(doc_id, at, validators, not_modified=False)
            known = self.latest(doc_id)
            assert known is not None
            return known, None
        files = _files.write_files(self._root, doc_id, at, extracted.text, fetched.body)
        body_sha = hashlib.sha256(fetched.body).hexdigest()
        with self._write(lock=doc_id) as s:
            prev = self._latest_row(s, doc_id)
            if prev is not None and prev.text_sha256 == extracted.text_sha256:
                # another process stored this very text meanwhile
                s.add(unchanged_attempt_row(doc_id, at, validators, prev.id))
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
                new_row = None
                if prev is not None and change is not None:
                    new_row = change_row(doc_id, prev.id, row.id, at, change)
                    s.add(new_row)
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
                new_change = None if new_row is None else change_of(new_row)
                if new_change is not None and events is not None:
                    self._insert_events(s, events(new_change), at)
                self._remember(row.id, extracted.text)
                result = (snapshot_of(row, extracted.text), new_change)
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
