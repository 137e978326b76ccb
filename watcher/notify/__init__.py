"""Notify: render alert events and deliver them from the outbox through apprise.

Public API (one import: ``from watcher.notify import ...``)::

    route(event, channels) -> list[Channel]              which channels want an event
    render(events, channel_kind) -> Message              pure; one event, or a digest of several
    Notifier.send(channel, message) -> None              raises NotifyError
    AppriseNotifier(), LogNotifier()                     real sends; dry runs (logs titles)
    deliver(outbox, settings, notifier, now) -> DeliveryReport
    send_test(channels, notifier) -> {name: None | error}

Errors: ``Notifier.send`` raises ``NotifyError`` (never holding a channel URL or its secrets);
``deliver`` reports channel failures and raises only what the outbox raises (``StoreError``);
``render`` and ``route`` raise nothing but ``ValueError`` for an empty event list.

Delivery is claim -> send -> mark, at least once: a crash between a service accepting a message
and ``mark_sent`` committing re-sends that (event, channel) after ``DELIVERY_LEASE``. Nothing
else sends a pair twice. ``deliver.py`` explains why.

``AlertPayload`` (in ``render.py``) is the contract of ``AlertEvent.payload``.
"""

from __future__ import annotations

from watcher.notify.deliver import (
    DELIVERY_LEASE,
    RETRY_FIRST,
    RETRY_MAX,
    DeliveryReport,
    Outbox,
    deliver,
    route,
)
from watcher.notify.notifiers import (
    NOTIFIERS,
    AppriseNotifier,
    LogNotifier,
    Notifier,
    channel_kind,
    send_test,
)
from watcher.notify.render import (
    SLACK_TEXT_LIMIT,
    SLACK_TITLE_LIMIT,
    AlertPayload,
    ChannelKind,
    ClausePayload,
    FactPayload,
    Message,
    render,
    render_test,
)

__all__ = [
    "DELIVERY_LEASE",
    "NOTIFIERS",
    "RETRY_FIRST",
    "RETRY_MAX",
    "SLACK_TEXT_LIMIT",
    "SLACK_TITLE_LIMIT",
    "AlertPayload",
    "AppriseNotifier",
    "ChannelKind",
    "ClausePayload",
    "DeliveryReport",
    "FactPayload",
    "LogNotifier",
    "Message",
    "Notifier",
    "Outbox",
    "channel_kind",
    "deliver",
    "render",
    "render_test",
    "route",
    "send_test",
]
