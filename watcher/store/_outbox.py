"""The outbox: queued alert events and the state of their delivery to each channel.

A delivery is claimed (with a lease) before it is sent, so of two senders at once exactly one
sends; it ends sent or given up, and an event whose channels all ended is marked done.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, exists, or_, select, update
from sqlalchemy.orm import Session

from watcher.errors import StoreError
from watcher.models import AlertEvent, Delivery, OutboxEvent
from watcher.store._core import StoreCore
from watcher.store._records import delivery_of, event_of, utc
from watcher.store._tables import DeliveryRow, EventRow

__all__ = ["Outbox"]


class Outbox(StoreCore):
    """The outbox of ``SnapshotStore``."""

    def add_events(self, events: Sequence[AlertEvent], at: datetime) -> int:
        """Queue events; an event whose key is already queued is ignored. Returns how many were new."""
        at = utc(at)
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
                    deliveries[d.event_id].append(delivery_of(d))
            return [event_of(row, deliveries[row.id]) for row in rows]

    def claim_delivery(
        self, event_id: int, channel: str, at: datetime, lease: timedelta
    ) -> bool:
        """Atomically take (event, channel) for sending and count one attempt.

        False when it was sent, given up, its event is done, or another sender claimed it
        less than ``lease`` ago; of two senders at once exactly one gets True. The caller
        checks ``Delivery.next_try_at`` itself.
        """
        at = utc(at)
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
        self._update_delivery(event_id, channel, sent_at=utc(at), claimed_at=None)

    def mark_retry(
        self,
        event_id: int,
        channel: str,
        at: datetime,
        error: str,
        next_try_at: datetime,
    ) -> None:
        utc(at)
        self._update_delivery(
            event_id,
            channel,
            last_error=error,
            next_try_at=utc(next_try_at),
            claimed_at=None,
        )

    def mark_given_up(
        self, event_id: int, channel: str, at: datetime, error: str
    ) -> None:
        self._update_delivery(
            event_id, channel, failed_at=utc(at), last_error=error, claimed_at=None
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
                out.append(
                    (event_of(e, [delivery_of(x) for x in siblings]), delivery_of(d))
                )
            return out

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
