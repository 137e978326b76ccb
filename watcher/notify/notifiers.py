"""Senders: ``AppriseNotifier`` delivers through apprise, ``LogNotifier`` only logs (dry runs).

``Notifier.send(channel, message)`` returns when the channel accepted the message and raises
``NotifyError`` otherwise; the error text names the channel and never holds its URL or a secret
from it. ``channel_kind(url)`` says how to render for a channel; ``send_test`` sends the
``watcher notify --test`` message to each channel and raises nothing.

apprise returns a falsy result instead of raising; ``AppriseNotifier`` turns that into
``NotifyError`` with the warnings apprise recorded for the attempt (apprise masks secrets in
them; the channel URL's user, password, tokens and secret-looking path and query values are
removed again here, to be sure). apprise records only what its logger lets through: with the
``apprise`` logger above WARNING the reason is the generic "apprise reported a failure"; to
keep apprise out of the process's log output, set ``propagate = False`` on it instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from watcher.errors import NotifyError
from watcher.models import Channel
from watcher.notify.render import ChannelKind, Message, render_test

__all__ = [
    "NOTIFIERS",
    "AppriseNotifier",
    "LogNotifier",
    "Notifier",
    "channel_kind",
    "send_test",
]

logger = logging.getLogger(__name__)

_EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})
_SLACK_SCHEMES = frozenset({"slack"})
_SLACK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
# Query keys whose value is a secret whatever it looks like.
_SECRET_KEYS = ("pass", "pwd", "token", "key", "secret", "auth", "webhook")
_ERROR_CHARS = 400  # enough for apprise's reason; status lines stay one line


class Notifier(Protocol):
    def send(self, channel: Channel, message: Message) -> None:
        """Deliver ``message`` to ``channel``; raise NotifyError if it was not accepted."""
        ...


def channel_kind(url: str) -> ChannelKind:
    """``email`` for mailto(s)://, ``slack`` for slack:// and Slack webhooks, else ``text``."""
    scheme = url.partition("://")[0].strip().lower()
    if scheme in _EMAIL_SCHEMES:
        return "email"
    if scheme in _SLACK_SCHEMES:
        return "slack"
    if scheme in ("http", "https"):
        try:
            host = (urlsplit(url.strip()).hostname or "").lower()
        except ValueError:
            return "text"
        if host in _SLACK_HOSTS:
            return "slack"
    return "text"


class AppriseNotifier:
    """Send through apprise. A fresh ``Apprise`` per send, so threads share nothing."""

    kind: ClassVar[str] = "apprise"

    def send(self, channel: Channel, message: Message) -> None:
        """Raises NotifyError when the URL is not an apprise URL or the service refused."""
        # imported on the first send: apprise loads its ~170 service modules, and most
        # checks send nothing
        import apprise
        from apprise.exception import AppriseException

        app = apprise.Apprise(
            asset=apprise.AppriseAsset(
                app_id="policy-watcher",
                app_desc="policy-watcher: terms and policy changes",
                app_url="https://github.com/policy-watcher/policy-watcher",
            )
        )
        if not app.add(channel.url):
            raise NotifyError(
                f"{channel.name}: not a usable apprise URL (check its scheme and tokens)"
            )
        try:
            result = app.notify(
                body=message.body,
                title=message.title,
                # our names are apprise's NotifyFormat and NotifyType values
                body_format=message.body_format,
                notify_type=message.level,
            )
        except AppriseException as exc:
            raise NotifyError(
                f"{channel.name}: {_redact(str(exc), channel.url)}"
            ) from exc
        try:
            if not result:
                reason = _reason(result) or "apprise reported a failure"
                raise NotifyError(f"{channel.name}: {_redact(reason, channel.url)}")
        finally:
            close = getattr(result, "close", None)
            if callable(close):
                close()
        logger.info("%s: sent %r", channel.name, message.title)


class LogNotifier:
    """Dry runs: log what would be sent (the title only), send nothing."""

    kind: ClassVar[str] = "log"

    def send(self, channel: Channel, message: Message) -> None:
        logger.info("%s: dry run, not sent: %s", channel.name, message.title)


NOTIFIERS: dict[str, type[Notifier]] = {
    c.kind: c for c in (AppriseNotifier, LogNotifier)
}


def send_test(channels: Sequence[Channel], notifier: Notifier) -> dict[str, str | None]:
    """Send a test message to every channel: name -> None if it was accepted, else why not."""
    results: dict[str, str | None] = {}
    for channel in channels:
        message = render_test(channel, channel_kind(channel.url))
        try:
            notifier.send(channel, message)
        except NotifyError as exc:
            logger.warning("%s: test message failed: %s", channel.name, exc)
            results[channel.name] = str(exc)
        else:
            results[channel.name] = None
    return results


def _reason(result: object) -> str:
    """The warnings and errors apprise recorded for this call, one line."""
    logs = getattr(result, "logs", None)
    if not callable(logs):
        return ""
    seen: list[str] = []
    for entry in logs():
        level = str(getattr(entry, "level", "")).upper()
        text = " ".join(str(getattr(entry, "message", "")).split())
        if level in ("WARNING", "ERROR", "CRITICAL") and text and text not in seen:
            seen.append(text)
    reason = "; ".join(seen)
    return reason if len(reason) <= _ERROR_CHARS else reason[: _ERROR_CHARS - 1] + "…"


def _redact(text: str, url: str) -> str:
    """``text`` without ``url`` or any secret-looking piece of it."""
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _secrets(url: str) -> set[str]:
    found = {url.strip()}
    try:
        parts = urlsplit(url.strip())
        username, password, host = parts.username, parts.password, parts.hostname
    except ValueError:
        return found
    values: list[str] = []
    for value in (username, password):
        if value and len(value) >= 3:
            values.append(value)
    if host and "." not in host and host != "localhost" and len(host) >= 6:
        values.append(host)  # slack://TOKEN_A/... : the "host" is a token
    for segment in parts.path.split("/"):
        if _looks_secret(segment):
            values.append(segment)
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        named = any(k in key.lower() for k in _SECRET_KEYS)
        if (named and len(value) >= 3) or _looks_secret(value):
            values.append(value)
    for value in values:
        found.add(value)
        found.add(unquote(value))
    return found


def _looks_secret(value: str) -> bool:
    return len(value) >= 20 or (len(value) >= 6 and any(c.isdigit() for c in value))
