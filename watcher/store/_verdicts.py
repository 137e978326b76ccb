"""Verdicts: every evaluation of every fact, the moves between them, re-baselined quotes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select

from watcher.models import AlertEvent, StoredVerdict, Verdict
from watcher.store._core import StoreCore
from watcher.store._records import stored_verdict_of, utc, verdict_row
from watcher.store._tables import FactBaselineRow, VerdictRow

__all__ = ["Verdicts"]


class Verdicts(StoreCore):
    """The verdict records of ``SnapshotStore``."""

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
        at = utc(at)
        moved: list[tuple[Verdict, StoredVerdict | None]] = []
        with self._write(lock="verdicts") as s:
            for verdict, snapshot_ids in verdicts:
                prev_row = s.scalars(
                    select(VerdictRow)
                    .where(VerdictRow.fact_id == verdict.fact_id)
                    .order_by(VerdictRow.id.desc())
                    .limit(1)
                ).first()
                previous = None if prev_row is None else stored_verdict_of(prev_row)
                same = (
                    previous is not None and previous.verdict.verdict == verdict.verdict
                )
                since = previous.since if same and previous is not None else at
                s.add(verdict_row(verdict, snapshot_ids, at, since))
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
            return {row.fact_id: stored_verdict_of(row) for row in rows}

    def verdict_history(self, fact_id: str) -> list[StoredVerdict]:
        """Every evaluation of the fact, oldest first."""
        with self._read() as s:
            rows = s.scalars(
                select(VerdictRow)
                .where(VerdictRow.fact_id == fact_id)
                .order_by(VerdictRow.id)
            ).all()
            return [stored_verdict_of(row) for row in rows]

    def fact_baseline(self, fact_id: str) -> str | None:
        """The quote a reviewer re-baselined for this fact, if any."""
        with self._read() as s:
            row = s.get(FactBaselineRow, fact_id)
            return None if row is None else row.text

    def set_fact_baseline(self, fact_id: str, text: str, at: datetime) -> None:
        at = utc(at)
        stmt = self._insert(FactBaselineRow).values(
            fact_id=fact_id, text=text, set_at=at
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["fact_id"], set_={"text": text, "set_at": at}
        )
        with self._write() as s:
            s.execute(stmt)
