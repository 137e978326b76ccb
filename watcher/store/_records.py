"""What goes into the store and what comes out: argument checks, rows to records and back.

The checks raise ``ValueError`` (a programmer error): a naive datetime, a malformed document
id, an ``Extracted`` whose hash is not its text's. The conversions raise nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import Table

from watcher.models import (
    AlertEvent,
    Attempt,
    AttemptOutcome,
    Change,
    ChangeDraft,
    Delivery,
    Extracted,
    OutboxEvent,
    Severity,
    Snapshot,
    StoredVerdict,
    UnchangedCheck,
    Verdict,
    VerdictName,
)
from watcher.store._tables import (
    AttemptRow,
    Base,
    ChangeRow,
    DeliveryRow,
    EventRow,
    SnapshotRow,
    VerdictRow,
)

__all__ = [
    "attempt_of",
    "change_of",
    "change_row",
    "check_doc_id",
    "check_extracted",
    "delivery_of",
    "event_of",
    "row_values",
    "snapshot_of",
    "stored_verdict_of",
    "unchanged_attempt_row",
    "utc",
    "verdict_row",
]

_DOC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")

# ---------------------------------------------------------------------- checks


def utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: the store needs timezone-aware times")
    return at.astimezone(UTC)


def check_doc_id(doc_id: str) -> None:
    if not _DOC_ID.fullmatch(doc_id) or ".." in doc_id:
        raise ValueError(f"bad document id {doc_id!r}: expected <platform>/<document>")


def check_extracted(extracted: Extracted) -> None:
    actual = hashlib.sha256(extracted.text.encode("utf-8")).hexdigest()
    if actual != extracted.text_sha256:
        raise ValueError("Extracted.text_sha256 is not the SHA-256 of its text")


# ---------------------------------------------------------------------- records


def snapshot_of(row: SnapshotRow, text: str) -> Snapshot:
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


def attempt_of(row: AttemptRow) -> Attempt:
    return Attempt(
        doc_id=row.doc_id,
        at=row.at,
        outcome=cast("AttemptOutcome", row.outcome),
        error_kind=row.error_kind,
        transient=row.transient,
        message=row.message,
        snapshot_id=row.snapshot_id,
    )


def unchanged_attempt_row(check: UnchangedCheck) -> AttemptRow:
    return AttemptRow(
        doc_id=check.doc_id,
        at=utc(check.at),
        outcome="not_modified" if check.not_modified else "unchanged",
        transient=False,
        snapshot_id=check.snapshot_id,
        etag=check.validators.etag,
        last_modified=check.validators.last_modified,
    )


def row_values(row: Base) -> dict[str, Any]:
    """The columns set on a new (transient) ``row``: the parameters of its INSERT."""
    return {
        column.key: getattr(row, column.key)
        for column in cast("Table", type(row).__table__).columns
        if column.key in row.__dict__
    }


def change_row(
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


def change_of(row: ChangeRow) -> Change:
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


def verdict_row(
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


def stored_verdict_of(row: VerdictRow) -> StoredVerdict:
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


def delivery_of(row: DeliveryRow) -> Delivery:
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


def event_of(row: EventRow, deliveries: Sequence[Delivery]) -> OutboxEvent:
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
