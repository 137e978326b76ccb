"""Attempts: every check of a document, whatever came of it, and the validators it got."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, insert, select

from watcher.models import (
    Attempt,
    AttemptOutcome,
    CheckState,
    UnchangedCheck,
    Validators,
)
from watcher.store._core import StoreCore
from watcher.store._records import (
    attempt_of,
    check_doc_id,
    row_values,
    unchanged_attempt_row,
    utc,
)
from watcher.store._tables import AttemptRow, SnapshotRow

__all__ = ["Attempts"]

_SUCCESS: tuple[AttemptOutcome, ...] = (
    "baseline",
    "changed",
    "unchanged",
    "not_modified",
)


# documents per query in check_states: well under every backend's bound-parameter limit
_BATCH = 500


class Attempts(StoreCore):
    """The attempt records of ``SnapshotStore``."""

    def check_states(self, doc_ids: Iterable[str]) -> dict[str, CheckState]:
        """Validators, newest outcome and latest snapshot of many documents, in 3 queries each
        batch (a cycle over a thousand documents would otherwise ask four times per document).
        """
        ids = list(dict.fromkeys(doc_ids))
        states: dict[str, CheckState] = {}
        with self._read() as s:
            for start in range(0, len(ids), _BATCH):
                batch = ids[start : start + _BATCH]
                newest = select(func.max(AttemptRow.id)).where(
                    AttemptRow.doc_id.in_(batch)
                )
                last = dict(
                    s.execute(
                        select(AttemptRow.doc_id, AttemptRow.outcome).where(
                            AttemptRow.id.in_(newest.group_by(AttemptRow.doc_id))
                        )
                    ).all()
                )
                good = newest.where(AttemptRow.outcome.in_(_SUCCESS)).group_by(
                    AttemptRow.doc_id
                )
                validators = {
                    doc_id: Validators(etag=etag, last_modified=modified)
                    for doc_id, etag, modified in s.execute(
                        select(
                            AttemptRow.doc_id, AttemptRow.etag, AttemptRow.last_modified
                        ).where(AttemptRow.id.in_(good))
                    ).all()
                }
                latest = select(func.max(SnapshotRow.id)).where(
                    SnapshotRow.doc_id.in_(batch)
                )
                snapshots = {
                    doc_id: (snapshot_id, sha)
                    for doc_id, snapshot_id, sha in s.execute(
                        select(
                            SnapshotRow.doc_id, SnapshotRow.id, SnapshotRow.text_sha256
                        ).where(SnapshotRow.id.in_(latest.group_by(SnapshotRow.doc_id)))
                    ).all()
                }
                for doc_id in batch:
                    snapshot = snapshots.get(doc_id)
                    states[doc_id] = CheckState(
                        validators=validators.get(doc_id, Validators()),
                        last_failed=last.get(doc_id) == "failed",
                        latest_snapshot=snapshot[0] if snapshot else None,
                        latest_sha256=snapshot[1] if snapshot else None,
                    )
        return states

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

    def record_unchanged(
        self, doc_id: str, at: datetime, validators: Validators, *, not_modified: bool
    ) -> Attempt:
        """Record a check that found the stored text again (304, or the same hash)."""
        check_doc_id(doc_id)
        if not_modified and validators == Validators():
            # a 304 without validators confirms the ones we sent
            validators = self.validators(doc_id)
        with self._write() as s:
            latest_id = s.scalar(
                select(func.max(SnapshotRow.id)).where(SnapshotRow.doc_id == doc_id)
            )
            check = UnchangedCheck(doc_id, at, validators, latest_id, not_modified)
            row = unchanged_attempt_row(check)
            s.add(row)
            s.flush()
            return attempt_of(row)

    def record_unchanged_many(self, checks: Sequence[UnchangedCheck]) -> None:
        """Record many checks that found the stored text again, in one transaction.

        What a cycle over many unchanged documents writes: one insert for them all instead
        of a transaction each. The caller knows each document's snapshot, so nothing is read.
        """
        for check in checks:
            check_doc_id(check.doc_id)
        rows = [row_values(unchanged_attempt_row(check)) for check in checks]
        if not rows:
            return
        with self._write() as s:
            s.execute(insert(AttemptRow), rows)

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
        check_doc_id(doc_id)
        row = AttemptRow(
            doc_id=doc_id,
            at=utc(at),
            outcome="failed",
            error_kind=error_kind,
            transient=transient,
            message=message,
        )
        with self._write() as s:
            s.add(row)
            s.flush()
            return attempt_of(row)

    def last_attempts(self) -> dict[str, Attempt]:
        """The newest attempt of every document ever checked."""
        newest = select(func.max(AttemptRow.id)).group_by(AttemptRow.doc_id)
        with self._read() as s:
            rows = s.scalars(select(AttemptRow).where(AttemptRow.id.in_(newest))).all()
            return {row.doc_id: attempt_of(row) for row in rows}

    def attempts(self, doc_id: str, limit: int = 50) -> list[Attempt]:
        """The document's attempts, newest first."""
        with self._read() as s:
            rows = s.scalars(
                select(AttemptRow)
                .where(AttemptRow.doc_id == doc_id)
                .order_by(AttemptRow.id.desc())
                .limit(limit)
            ).all()
            return [attempt_of(row) for row in rows]

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
