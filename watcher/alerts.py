"""Alert events: what the outbox holds for people to hear about.

Pure builders of ``AlertEvent`` for the four things that alert: a change of ``alert``
severity (with the facts whose verdict moved with it), a fact verdict that moved on its own,
a document failing ``alert_after_failures`` checks in a row, and its recovery. The payload
follows ``watcher.notify.payload.AlertPayload``. Each key is unique per event, so the outbox
ignores a repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from watcher.models import (
    AlertEvent,
    Change,
    Document,
    Fact,
    Platform,
    StoredVerdict,
    TextDiff,
    Verdict,
)

__all__ = ["change_event", "fact_event", "failing_event", "recovered_event"]


def _fact_payload(
    fact: Fact, verdict: Verdict, before: StoredVerdict | None
) -> dict[str, object]:
    return {
        "id": fact.id,
        "claim": fact.claim,
        "before": before.verdict.verdict if before else None,
        "after": verdict.verdict,
        "reason": "; ".join(verdict.reasons[:3]),
    }


def change_event(
    doc: Document,
    change: Change,
    diff: TextDiff,
    moved: Sequence[tuple[Fact, Verdict, StoredVerdict | None]] = (),
) -> AlertEvent:
    """The alert for a stored change; ``moved``: facts whose verdict moved with it."""
    subject = change.summary
    if moved:
        names = ", ".join(
            f'"{fact.name}" now {verdict.verdict}' for fact, verdict, _ in moved
        )
        subject = f"{change.summary} — fact {names}"
    return AlertEvent(
        key=f"change:{change.id}",
        kind="change",
        severity=change.severity,
        platform=doc.platform,
        doc_id=doc.id,
        topics=change.topics,
        subject=subject,
        payload={
            "platform_name": doc.platform_name,
            "document_title": doc.display_name,
            "doc_url": doc.url,
            "change_id": change.id,
            "summary": change.summary,
            "clauses": [
                {
                    "heading": list(c.heading),
                    "kind": c.kind,
                    "ops": [[op, text] for op, text in c.ops],
                    "topics": list(c.topics),
                }
                for c in diff.clauses
                if not c.cosmetic
            ],
            "facts": [_fact_payload(f, v, before) for f, v, before in moved],
        },
    )


def fact_event(
    platform: Platform,
    fact: Fact,
    verdict: Verdict,
    before: StoredVerdict | None,
    at: datetime,
) -> AlertEvent:
    """The alert for a verdict that moved without a change of its own (e.g. to unknown)."""
    doc = next((d for d in platform.documents if d.name == verdict.evidence_doc), None)
    was = f" (was {before.verdict.verdict})" if before else ""
    return AlertEvent(
        key=f"fact:{fact.id}:{verdict.verdict}:{at.strftime('%Y%m%dT%H%M%S%f')}",
        kind="fact",
        severity="alert",
        platform=platform.id,
        doc_id=doc.id if doc else None,
        topics=(fact.topic,),
        subject=f'{platform.name}: fact "{fact.name}" now {verdict.verdict}{was}',
        payload={
            "platform_name": platform.name,
            "document_title": doc.display_name if doc else None,
            "doc_url": doc.url if doc else None,
            "summary": "; ".join(verdict.reasons[:3]),
            "clauses": [],
            "facts": [_fact_payload(fact, verdict, before)],
        },
    )


def failing_event(
    doc: Document, failures: int, kind: str, error: str, streak_started: datetime
) -> AlertEvent:
    """The alert for a failing streak, keyed by the streak's first failure."""
    return AlertEvent(
        key=f"failing:{doc.id}:{streak_started.isoformat()}",
        kind="failing",
        severity="alert",
        platform=doc.platform,
        doc_id=doc.id,
        topics=(),
        subject=f"{doc.display_name}: {failures} checks failed in a row ({kind})",
        payload={
            "platform_name": doc.platform_name,
            "document_title": doc.display_name,
            "doc_url": doc.url,
            "failures": failures,
            "error": error,
        },
    )


def recovered_event(
    doc: Document, failures: int, streak_started: datetime
) -> AlertEvent:
    """The alert that a failing streak ended, keyed by that streak's first failure."""
    return AlertEvent(
        key=f"recovered:{doc.id}:{streak_started.isoformat()}",
        kind="recovered",
        severity="alert",
        platform=doc.platform,
        doc_id=doc.id,
        topics=(),
        subject=f"{doc.display_name}: reachable again after {failures} failed checks",
        payload={
            "platform_name": doc.platform_name,
            "document_title": doc.display_name,
            "doc_url": doc.url,
            "failures": failures,
        },
    )
