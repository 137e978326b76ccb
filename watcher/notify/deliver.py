"""Deliver the outbox: route each pending event to its channels, send, record each (event, channel).

``deliver(outbox, settings, notifier, now)`` makes one pass and returns a ``DeliveryReport``.
For every pending event and every channel ``route`` picks that has neither sent nor given up
on it: an ``immediate`` channel gets the event now; a ``digest`` channel collects events until
the first ``digest_every`` time (crontab, in the channel's time zone) after each event was
queued, then gets ONE message listing every due event. A send is claim -> send -> mark:

- ``claim_delivery`` takes the pair for ``lease`` (DELIVERY_LEASE); of two senders (two cycles,
  a CLI command during the daemon's cycle, threads) exactly one gets it, so one message goes out.
- the notifier sends; on ``NotifyError`` the pair is ``mark_retry``'d with exponential backoff
  (1 min, 2 min, 4 min ... capped at 1 h, counted from the pair's earlier attempts), or
  ``mark_given_up`` once its event is older than ``settings.give_up_after`` (``watcher status``
  shows those, through the store's ``failed_deliveries``). Once a channel failed in a pass, its
  other due pairs are not tried in that pass but scheduled with it the same way: one failed
  connection per channel and pass, however long its queue.
- ``mark_sent``. An event is ``mark_event_done`` once every routed channel has sent or given up;
  an event no channel wants is done at once.

The one duplicate window: a crash (kill -9, power loss, a store error) after the service
accepted a message and before ``mark_sent`` committed. The claim then stays until the lease
expires, and the next pass after that sends the pair again: delivery is *at least once*. We
chose that over at-most-once because a claim that was never marked cannot tell "sent, then
died" from "died while sending" (mid-SMTP, mid-HTTP), and a lost alert about a changed privacy
term is worse than a rare repeated one. The window is the few milliseconds between the service's
reply and the store's commit, and the repeat comes only after the lease; the resend is logged
as such. Restarts and concurrent passes never duplicate. (As with any sender, a service that
takes a message but answers with an error, or after apprise's timeout, looks like a refusal;
such a send is retried like any failure.)

``deliver`` raises what the outbox raises (``StoreError``); a channel's failure is reported,
never raised. ``route`` raises nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watcher.errors import NotifyError
from watcher.models import (
    AlertEvent,
    Channel,
    Delivery,
    NotifySettings,
    OutboxEvent,
    severity_rank,
)
from watcher.notify.notifiers import Notifier, channel_kind
from watcher.notify.render import render

__all__ = [
    "DELIVERY_LEASE",
    "RETRY_FIRST",
    "RETRY_MAX",
    "DeliveryReport",
    "Outbox",
    "deliver",
    "route",
]

logger = logging.getLogger(__name__)

# A live sender must never lose its claim: apprise gives up on a service after 60 s
# (AppriseAsset service_timeout), SMTP connects time out after 15 s. Ten minutes is far above
# that, and short enough that a pair whose sender crashed is retried within the next cycles.
DELIVERY_LEASE = timedelta(minutes=10)
RETRY_FIRST = timedelta(minutes=1)  # first retry of a failed channel
RETRY_MAX = timedelta(hours=1)  # backoff cap: a channel back up is used within the hour

_OPERATIONAL = ("failing", "recovered")  # events about the watcher itself, not a topic


class Outbox(Protocol):
    """The store methods ``deliver`` uses (``watcher.store.SnapshotStore`` has them).

    ``pending_events``: events not done, oldest first, each with its deliveries.
    ``claim_delivery``: atomically take the pair and count one attempt; False when it was
    sent, given up, its event is done, or another sender claimed it less than ``lease`` ago.
    The ``mark_*`` methods end the claim. ``Delivery.attempts`` counts earlier attempts.
    """

    def pending_events(self) -> list[OutboxEvent]: ...

    def claim_delivery(
        self, event_id: int, channel: str, at: datetime, lease: timedelta, /
    ) -> bool: ...

    def mark_sent(self, event_id: int, channel: str, at: datetime, /) -> None: ...

    def mark_retry(
        self,
        event_id: int,
        channel: str,
        at: datetime,
        error: str,
        next_try_at: datetime,
        /,
    ) -> None: ...

    def mark_given_up(
        self, event_id: int, channel: str, at: datetime, error: str, /
    ) -> None: ...

    def mark_event_done(self, event_id: int, /) -> None: ...


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one ``deliver`` pass did, by channel name -> outbox event ids."""

    sent: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    retried: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    given_up: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    waiting: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # not due yet
    next_digest: Mapping[str, datetime] = field(default_factory=dict)  # UTC
    errors: Mapping[str, str] = field(default_factory=dict)  # channel -> last error
    done: tuple[int, ...] = ()  # events finished in this pass

    @property
    def ok(self) -> bool:
        """True when no channel failed in this pass."""
        return not self.retried and not self.given_up

    def lines(self) -> list[str]:
        """One line per channel that did something or waits; [] when there was nothing."""
        names = dict.fromkeys(
            [*self.sent, *self.retried, *self.given_up, *self.waiting]
        )
        out = []
        for name in names:
            parts = []
            if name in self.sent:
                parts.append(f"sent {len(self.sent[name])}")
            if name in self.retried:
                parts.append(f"{len(self.retried[name])} to retry")
            if name in self.given_up:
                parts.append(f"gave up on {len(self.given_up[name])}")
            if name in self.waiting:
                when = self.next_digest.get(name)
                at = f" (digest at {when:%Y-%m-%dT%H:%M:%SZ})" if when else ""
                parts.append(f"{len(self.waiting[name])} waiting{at}")
            line = f"{name}: {', '.join(parts)}"
            if name in self.errors:
                line += f": {self.errors[name]}"
            out.append(line)
        return out


def route(event: AlertEvent, channels: Sequence[Channel]) -> list[Channel]:
    """The channels that want ``event``: severity at least ``min_severity``, one of the
    channel's ``topics`` (failing/recovered events carry no topic and pass), one of its
    ``platforms``."""
    rank = severity_rank(event.severity)
    out = []
    for channel in channels:
        if rank < severity_rank(channel.min_severity):
            continue
        if channel.platforms is not None and event.platform not in channel.platforms:
            continue
        if (
            channel.topics is not None
            and event.kind not in _OPERATIONAL
            and not set(event.topics) & set(channel.topics)
        ):
            continue
        out.append(channel)
    return out


@dataclass(slots=True)
class _Pass:
    """State of one deliver pass."""

    outbox: Outbox
    settings: NotifySettings
    notifier: Notifier
    now: datetime
    lease: timedelta
    sent: dict[str, list[int]] = field(default_factory=dict)
    retried: dict[str, list[int]] = field(default_factory=dict)
    given_up: dict[str, list[int]] = field(default_factory=dict)
    waiting: dict[str, list[int]] = field(default_factory=dict)
    next_digest: dict[str, datetime] = field(default_factory=dict)
    # channel -> its error, for the channels that failed in this pass
    errors: dict[str, str] = field(default_factory=dict)
    # event -> the routed channels that have neither sent nor given up
    open: dict[int, set[str]] = field(default_factory=dict)

    def report(self, done: list[int]) -> DeliveryReport:
        def freeze(d: dict[str, list[int]]) -> dict[str, tuple[int, ...]]:
            return {k: tuple(v) for k, v in d.items()}

        return DeliveryReport(
            freeze(self.sent),
            freeze(self.retried),
            freeze(self.given_up),
            freeze(self.waiting),
            dict(self.next_digest),
            dict(self.errors),
            tuple(done),
        )


_Item = tuple[OutboxEvent, Delivery | None]


def deliver(
    outbox: Outbox,
    settings: NotifySettings,
    notifier: Notifier,
    now: datetime,
    *,
    lease: timedelta = DELIVERY_LEASE,
) -> DeliveryReport:
    """One delivery pass over the outbox at ``now`` (timezone-aware). See the module docstring.

    Raises what the outbox raises (StoreError); ValueError for a naive ``now``.
    """
    if now.tzinfo is None:
        raise ValueError("deliver() needs a timezone-aware now")
    run = _Pass(outbox, settings, notifier, now.astimezone(UTC), lease)
    immediate: list[tuple[Channel, _Item]] = []
    digests: dict[str, tuple[Channel, list[_Item]]] = {}
    for item in outbox.pending_events():
        states = {d.channel: d for d in item.deliveries}
        unfinished: set[str] = set()
        for channel in route(item.event, settings.channels):
            state = states.get(channel.name)
            if channel.name in unfinished or _finished(state):
                continue
            unfinished.add(channel.name)
            due_at = _digest_time(channel, item.created_at)
            if not _due(run, state, due_at):
                run.waiting.setdefault(channel.name, []).append(item.id)
                if due_at is not None and due_at > run.now:
                    first = run.next_digest.get(channel.name, due_at)
                    run.next_digest[channel.name] = min(first, due_at)
            elif due_at is None:
                immediate.append((channel, (item, state)))
            else:
                digests.setdefault(channel.name, (channel, []))[1].append((item, state))
        run.open[item.id] = unfinished
    for channel, entry in immediate:
        _send(run, channel, [entry])
    for channel, entries in digests.values():
        _send(run, channel, entries)
    done = [event_id for event_id, names in run.open.items() if not names]
    for event_id in done:
        outbox.mark_event_done(event_id)
    return run.report(done)


def _finished(state: Delivery | None) -> bool:
    return state is not None and (
        state.sent_at is not None or state.failed_at is not None
    )


def _due(run: _Pass, state: Delivery | None, digest_at: datetime | None) -> bool:
    if digest_at is not None and digest_at > run.now:
        return False
    if state is None:
        return True
    if state.next_try_at is not None and state.next_try_at > run.now:
        return False
    # held by a live sender (another cycle or thread): its claim would fail anyway
    return state.claimed_at is None or state.claimed_at <= run.now - run.lease


def _digest_time(channel: Channel, created_at: datetime) -> datetime | None:
    """The first digest time of ``channel`` after ``created_at``; None if immediate."""
    if channel.mode != "digest":
        return None
    if not channel.digest_every:
        logger.warning(
            "%s: digest mode without digest_every; sending at once", channel.name
        )
        return None
    # imported here: APScheduler is the daemon's; a one-off check needs it only for digests
    from watcher.schedule import crontab_trigger

    try:
        zone = ZoneInfo(channel.timezone)
        # crontab's weekday numbers (1-5 = Mon-Fri), not APScheduler's (0 = Monday)
        trigger = crontab_trigger(channel.digest_every, timezone=channel.timezone)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        logger.warning(
            "%s: unusable digest schedule (%s); sending at once", channel.name, exc
        )
        return None
    # strictly after: an event queued at 09:00:00 missed the 09:00 digest, which may be out
    after = created_at + timedelta(microseconds=1)
    fire = trigger.get_next_fire_time(None, after.astimezone(zone))
    if not isinstance(fire, datetime):
        return None
    return fire.astimezone(UTC)


def _backoff(attempts_before: int) -> timedelta:
    """1 min after the first failure, doubling, at most RETRY_MAX."""
    return min(RETRY_FIRST * (1 << min(max(attempts_before, 0), 16)), RETRY_MAX)


def _send(run: _Pass, channel: Channel, entries: Sequence[_Item]) -> None:
    claimed = [
        (item, state)
        for item, state in entries
        if run.outbox.claim_delivery(item.id, channel.name, run.now, run.lease)
    ]
    if not claimed:
        return
    for item, state in claimed:
        if state is not None and state.claimed_at is not None:
            logger.warning(
                "%s: event %d: an earlier delivery was interrupted; sending again "
                "(it may arrive twice)",
                channel.name,
                item.id,
            )
    error = run.errors.get(channel.name)
    if error is None:  # one failed send per channel and pass: the rest wait with it
        message = render([item.event for item, _ in claimed], channel_kind(channel.url))
        try:
            run.notifier.send(channel, message)
        except NotifyError as exc:
            error = run.errors[channel.name] = str(exc)
            logger.warning(
                "%s: delivery of %d alert(s) failed: %s",
                channel.name,
                len(claimed),
                error,
            )
    if error is not None:
        _failed(run, channel, claimed, error)
        return
    for item, _ in claimed:
        run.outbox.mark_sent(item.id, channel.name, run.now)
        run.sent.setdefault(channel.name, []).append(item.id)
        run.open[item.id].discard(channel.name)


def _failed(run: _Pass, channel: Channel, claimed: Sequence[_Item], error: str) -> None:
    for item, state in claimed:
        if run.now - item.created_at >= run.settings.give_up_after:
            run.outbox.mark_given_up(item.id, channel.name, run.now, error)
            run.given_up.setdefault(channel.name, []).append(item.id)
            run.open[item.id].discard(channel.name)
        else:
            retry_at = run.now + _backoff(state.attempts if state else 0)
            run.outbox.mark_retry(item.id, channel.name, run.now, error, retry_at)
            run.retried.setdefault(channel.name, []).append(item.id)
