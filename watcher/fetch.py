"""Fetch one document over HTTP, politely, and decode its body.

Contract:

- ``Fetcher(settings).fetch(doc, validators)`` sends one conditional GET (with retries) and
  returns a ``FetchResult``; a 304 is ``FetchResult(not_modified=True)``, not an error.
  Every failure raises ``FetchError`` (its ``kind`` is one of ``FetchErrorKind``); httpx,
  zlib and timeout errors are converted here (zlib's in ``watcher._body``) and never escape.
  Calling ``fetch`` after ``aclose`` is a programmer error (``RuntimeError``).
- One ``Fetcher`` is shared by every job: one request at a time per host, at least
  ``per_host_interval`` seconds from the end of one request to a host to the start of the
  next, at most ``concurrency`` requests at once. This holds across tasks, event loops and
  threads (the daemon may call ``asyncio.run`` per job); ``watcher._politeness`` does it.
- Opened (``async with Fetcher(...)``, or ``fetcher.open()`` inside a running loop), it
  keeps one pooled client for the event loop it was opened in, so a cycle over many
  documents of one host reuses its connections; ``aclose`` closes that pool once the
  fetches in flight are done.
  A fetch from any other loop (or before ``open``) uses a connection of its own, closed
  before it returns, so no socket outlives the loop that made it.
- ``fetch_one`` is the blocking form for the CLI (raises ``FetchError``; ``RuntimeError`` if
  called inside a running event loop).
- ``decode_body`` (``watcher.charset``, re-exported here) never raises: header charset, then
  ``<meta>`` / XML declaration, then detection, then UTF-8 with replacement characters.

Responses are classified in ``_classify`` and nowhere else, transport errors in
``Fetcher._request``: timeouts, connection errors, 429 and 5xx are transient and retried (exponential backoff with jitter, honouring
Retry-After up to ``retry_max_wait``); 401/403 and bot-challenge pages are ``blocked``
(transient, not retried within the call); 404/410 are ``gone``; other statuses ``http``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType

import httpx
import tenacity

from watcher._body import read_body
from watcher._politeness import Politeness
from watcher.charset import decode_body
from watcher.errors import FetchError, FetchErrorKind
from watcher.models import (
    Document,
    DocumentFormat,
    FetchResult,
    FetchSettings,
    Validators,
)

__all__ = [
    "Fetcher",
    "decode_body",
    "fetch_one",
    "result_from_file",
]

logger = logging.getLogger(__name__)

_ACCEPT: dict[DocumentFormat, str] = {
    "html": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
    "json": "application/json,*/*;q=0.5",
    "markdown": "text/markdown,text/plain;q=0.9,*/*;q=0.5",
    "text": "text/plain,*/*;q=0.5",
}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# An error page is read only this far: enough to recognise a challenge page.
_ERROR_BODY_BYTES = 64 * 1024
# A page this short that carries a challenge marker is an interstitial; a long policy page
# may carry Cloudflare's injected "challenge-platform" script and still be the real page.
_INTERSTITIAL_BYTES = 32 * 1024
_CHALLENGE_TITLE = re.compile(
    rb"<title>\s*(just a moment\.\.\.|attention required! \| cloudflare|please wait\.\.\. \|"
    rb" cloudflare|ddos-guard|checking your browser|verifying you are human)",
    re.IGNORECASE,
)
_CHALLENGE_MARKER = re.compile(
    rb"cf-chl|cf_chl|challenge-platform|cf-turnstile|captcha-delivery\.com|px-captcha"
    rb"|g-recaptcha|h-captcha",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- fetching


class _Retry(Exception):
    """A transient failure worth another attempt; carries the FetchError and Retry-After."""

    def __init__(self, error: FetchError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _BackoffOrRetryAfter(tenacity.wait.wait_base):
    def __init__(self, max_wait: float) -> None:
        self._backoff = tenacity.wait_exponential_jitter(
            initial=1.0, max=max_wait, jitter=1.0
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        after = _retry_after_of(retry_state)
        return after if after is not None else self._backoff(retry_state)


class _RetryAfterTooLong(tenacity.stop.stop_base):
    def __init__(self, max_wait: float) -> None:
        self._max_wait = max_wait

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        after = _retry_after_of(retry_state)
        return after is not None and after > self._max_wait


def _retry_after_of(retry_state: tenacity.RetryCallState) -> float | None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    return exc.retry_after if isinstance(exc, _Retry) else None


class Fetcher:
    """Fetches documents; share one instance for a whole run or daemon.

    ``transport`` replaces the network (tests, proxies) and stays owned by the caller;
    ``sleep`` is awaited for retry waits only (politeness waits are real time).
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._sleep = sleep
        self._ssl = httpx.create_ssl_context() if transport is None else None
        self._politeness = Politeness(settings.per_host_interval, settings.concurrency)
        self._closed = False
        self._pool: httpx.AsyncClient | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0  # fetches on the pool

    def open(self) -> Fetcher:
        """Keep pooled connections for the running event loop (until ``aclose``).

        Call it from inside that loop; ``RuntimeError`` when no loop is running.
        """
        if self._pool is None and not self._closed:
            self._pool = self._new_client()
            self._pool_loop = asyncio.get_running_loop()
        return self

    async def __aenter__(self) -> Fetcher:
        return self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Refuse further fetches; the pool closes when the fetches in flight are done."""
        self._closed = True
        if self._in_flight == 0:
            await self._close_pool()

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._transport is None:
            await pool.aclose()  # a transport of the caller's stays open: it is theirs

    async def fetch(
        self, doc: Document, validators: Validators | None = None
    ) -> FetchResult:
        """GET ``doc.url`` conditionally. Raises ``FetchError``; see the module docstring."""
        if self._closed:
            raise RuntimeError("Fetcher is closed")
        # A headless-browser backend (JS-rendered pages such as Zoho Desk) would be chosen
        # here from a per-document setting; it must return a FetchResult and raise the same
        # FetchError kinds. Every format today goes over plain HTTP.
        started = time.monotonic()
        settings = self._settings
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(settings.retries + 1)
            | _RetryAfterTooLong(settings.retry_max_wait),
            wait=_BackoffOrRetryAfter(settings.retry_max_wait),
            retry=tenacity.retry_if_exception_type(_Retry),
            sleep=self._sleep,
            before_sleep=lambda state: _log_retry(doc, state),
            reraise=True,
        )
        pool = self._pool if self._pool_loop is asyncio.get_running_loop() else None
        client = pool or self._new_client()
        if pool is not None:
            self._in_flight += 1
        try:
            result: FetchResult = await retrying(
                self._attempt, client, doc, validators or Validators()
            )
        except _Retry as exc:
            logger.info("%s: giving up: %s", doc.id, exc.error)
            raise exc.error from exc.error.__cause__
        finally:
            if pool is None:
                if self._transport is None:
                    await client.aclose()
            else:
                self._in_flight -= 1
                if self._closed and self._in_flight == 0:
                    await self._close_pool()
        logger.debug(
            "%s: %s in %.2fs", doc.id, result.status, time.monotonic() - started
        )
        return dataclasses.replace(result, elapsed=time.monotonic() - started)

    def _new_client(self) -> httpx.AsyncClient:
        settings = self._settings
        headers = {
            "User-Agent": settings.user_agent,
            "Accept-Language": "en-US,en;q=0.8",
            "Accept-Encoding": "gzip, deflate",  # decoded here, within max_bytes
        }
        timeout = httpx.Timeout(settings.timeout)
        if self._transport is not None:
            return httpx.AsyncClient(
                transport=self._transport, headers=headers, timeout=timeout
            )
        # politeness already admits at most `concurrency` requests; the pool keeps as many
        limits = httpx.Limits(
            max_connections=settings.concurrency,
            max_keepalive_connections=settings.concurrency,
        )
        return httpx.AsyncClient(
            verify=self._ssl or True,
            headers=headers,
            timeout=timeout,
            limits=limits,
        )

    async def _attempt(
        self, client: httpx.AsyncClient, doc: Document, validators: Validators
    ) -> FetchResult:
        """One pass along the redirect chain. Raises FetchError, or _Retry when transient."""
        url, seen = doc.url, {doc.url}
        headers = {"Accept": _ACCEPT[doc.format]}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        for _hop in range(self._settings.max_redirects + 1):
            status, response_headers, body, location = await self._request(
                client, doc, url, headers
            )
            if location is None:
                return _result(doc, url, status, response_headers, body, validators)
            url = location
            if url in seen:
                raise FetchError(
                    "redirects", doc.url, f"redirect loop back to {url}", status=status
                )
            seen.add(url)
        raise FetchError(
            "redirects", doc.url, f"more than {self._settings.max_redirects} redirects"
        )

    async def _request(
        self,
        client: httpx.AsyncClient,
        doc: Document,
        url: str,
        headers: dict[str, str],
    ) -> tuple[int, httpx.Headers, bytes, str | None]:
        """One HTTP request: (status, headers, body, redirect target or None)."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchError("invalid", doc.url, f"bad URL {url!r}: {exc}") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise FetchError("invalid", doc.url, f"not an http(s) URL: {url}")
        async with self._politeness.turn(parsed.host):
            try:
                async with asyncio.timeout(self._settings.timeout):
                    return await self._exchange(client, doc, parsed, headers)
            except (TimeoutError, httpx.TimeoutException) as exc:
                error = FetchError(
                    "timeout",
                    doc.url,
                    f"no answer within {self._settings.timeout:g}s",
                    transient=True,
                )
                raise _Retry(error) from exc
            except httpx.UnsupportedProtocol as exc:
                raise FetchError("invalid", doc.url, str(exc)) from exc
            except httpx.TransportError as exc:
                error = FetchError(
                    "connection",
                    doc.url,
                    f"{type(exc).__name__}: {exc}",
                    transient=True,
                )
                raise _Retry(error) from exc

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        doc: Document,
        url: httpx.URL,
        headers: dict[str, str],
    ) -> tuple[int, httpx.Headers, bytes, str | None]:
        logger.debug("%s: GET %s", doc.id, url)
        async with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                return (
                    status,
                    response.headers,
                    b"",
                    str(url.join(response.headers["location"])),
                )
            cap = self._settings.max_bytes
            if 200 <= status < 300:
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > cap:
                    raise FetchError(
                        "too_large",
                        doc.url,
                        f"Content-Length {length} above {cap} bytes",
                        status=status,
                    )
                body = await read_body(response, doc.url, cap, truncate=False)
            else:
                body = await read_body(
                    response, doc.url, _ERROR_BODY_BYTES, truncate=True
                )
            return status, response.headers, body, None


def _result(
    doc: Document,
    url: str,
    status: int,
    headers: httpx.Headers,
    body: bytes,
    sent: Validators,
) -> FetchResult:
    """Turn a final response into a FetchResult, or raise its FetchError (``_classify``)."""
    content_type = headers.get("content-type")
    fresh = Validators(
        etag=headers.get("etag"), last_modified=headers.get("last-modified")
    )
    _classify(
        doc, status, headers, body, conditional=bool(sent.etag or sent.last_modified)
    )
    now = datetime.now(UTC)
    if status == 304:
        validators = Validators(
            fresh.etag or sent.etag, fresh.last_modified or sent.last_modified
        )
        return FetchResult(
            doc.url,
            url,
            304,
            b"",
            "",
            content_type,
            None,
            validators,
            now,
            not_modified=True,
        )
    text, encoding = decode_body(body, content_type)
    return FetchResult(
        doc.url, url, status, body, text, content_type, encoding, fresh, now
    )


def _classify(
    doc: Document,
    status: int,
    headers: httpx.Headers,
    body: bytes,
    *,
    conditional: bool,
) -> None:
    """The one place that decides what a response means; returns only for a usable one."""
    if _is_challenge(status, headers, body):
        raise FetchError(
            "blocked", doc.url, "bot-challenge page", status=status, transient=True
        )
    if 200 <= status < 300 or (status == 304 and conditional):
        return
    if status in (401, 403):
        raise FetchError(
            "blocked", doc.url, f"HTTP {status}", status=status, transient=True
        )
    if status in (404, 410):
        raise FetchError("gone", doc.url, f"HTTP {status}", status=status)
    if status == 429 or status >= 500:
        kind: FetchErrorKind = "rate_limited" if status == 429 else "server"
        error = FetchError(
            kind, doc.url, f"HTTP {status}", status=status, transient=True
        )
        raise _Retry(error, _parse_retry_after(headers.get("retry-after")))
    raise FetchError("http", doc.url, f"unexpected HTTP {status}", status=status)


def _is_challenge(status: int, headers: httpx.Headers, body: bytes) -> bool:
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    head = body[:_ERROR_BODY_BYTES]
    if _CHALLENGE_TITLE.search(head):
        return True
    interstitial = not 200 <= status < 300 or len(body) <= _INTERSTITIAL_BYTES
    return interstitial and _CHALLENGE_MARKER.search(head) is not None


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _log_retry(doc: Document, state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.info(
        "%s: %s; retry %d in %.1fs",
        doc.id,
        getattr(exc, "error", exc),
        state.attempt_number,
        wait,
    )


# The Content-Type a saved file of each format is read as (its charset still comes from
# the file itself: a <meta> tag, or detection).
_FILE_CONTENT_TYPES = {
    "html": "text/html",
    "json": "application/json",
    "markdown": "text/markdown",
    "text": "text/plain",
}


def result_from_file(doc: Document, body: bytes) -> FetchResult:
    """A saved page of ``doc`` as if just fetched (``watcher extract --file``); never raises."""
    content_type = _FILE_CONTENT_TYPES.get(doc.format, "text/plain")
    text, encoding = decode_body(body, content_type)
    return FetchResult(
        url=doc.url,
        final_url=doc.url,
        status=200,
        body=body,
        text=text,
        content_type=content_type,
        encoding=encoding,
        validators=Validators(),
        fetched_at=datetime.now(UTC),
    )


def fetch_one(
    settings: FetchSettings, doc: Document, validators: Validators | None = None
) -> FetchResult:
    """Fetch one document from synchronous code (``watcher extract``). Raises ``FetchError``."""

    async def run() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch(doc, validators)

    return asyncio.run(run())
