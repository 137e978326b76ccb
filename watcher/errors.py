"""The one exception tree of policy-watcher.

::

    WatcherError
      ConfigError    bad or missing config: refuse to start (exit 2); .problems lists every one
      FetchError     .kind (see FetchErrorKind), .url, .status, .transient
      ExtractError   selector matched nothing, text below min_chars, unusable body
      StoreError     database or snapshot write failed: fatal
      NotifyError    apprise reported failure for a channel

Each stage raises only its own error type, converting library errors at its edge
(``raise FetchError(...) from exc``).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ConfigError",
    "ExtractError",
    "FetchError",
    "FetchErrorKind",
    "NotifyError",
    "StoreError",
    "WatcherError",
]

# timeout/connection/server/rate_limited are transient; the rest are not retried within a cycle.
FetchErrorKind = Literal[
    "timeout",  # connect or read timeout
    "connection",  # DNS, refused, reset, TLS
    "rate_limited",  # 429 after the retries ran out
    "server",  # 5xx after the retries ran out
    "blocked",  # 403, 401, or a bot-challenge page
    "gone",  # 404, 410
    "http",  # any other unexpected status
    "too_large",  # body (compressed or decompressed) above max_bytes
    "redirects",  # more redirects than allowed, or a redirect loop
    "invalid",  # not http(s), or a body that cannot be read as the declared format
]


class WatcherError(Exception):
    """Base class of every error policy-watcher raises on purpose."""


class ConfigError(WatcherError):
    """The configuration cannot be used. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class FetchError(WatcherError):
    """A document could not be fetched."""

    def __init__(
        self,
        kind: FetchErrorKind,
        url: str,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
    ) -> None:
        self.kind: FetchErrorKind = kind
        self.url = url
        self.status = status
        self.transient = transient
        super().__init__(f"{kind}: {message} ({url})")


class ExtractError(WatcherError):
    """Text could not be extracted: the page no longer has the shape the rules expect."""


class StoreError(WatcherError):
    """The store could not read or write: the process should stop."""


class NotifyError(WatcherError):
    """A channel did not accept a message."""
