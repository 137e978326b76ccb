"""Fetch one document over HTTP, politely, and decode its body.

Contract:

- ``Fetcher(settings).fetch(doc, validators)`` sends one conditional GET (with retries) and
  returns a ``FetchResult``; a 304 is ``FetchResult(not_modified=True)``, not an error.
  Every failure raises ``FetchError`` (its ``kind`` is one of ``FetchErrorKind``); httpx,
  zlib and timeout errors are converted here and never escape. Calling ``fetch`` after
  ``aclose`` is a programmer error (``RuntimeError``).
- One ``Fetcher`` is shared by every job: one request at a time per host, at least
  ``per_host_interval`` seconds from the end of one request to a host to the start of the
  next, at most ``concurrency`` requests at once. This holds across tasks, event loops and
  threads (the daemon may call ``asyncio.run`` per job).
- ``fetch_one`` is the blocking form for the CLI (raises ``FetchError``; ``RuntimeError`` if
  called inside a running event loop).
- ``decode_body`` never raises: header charset, then ``<meta>`` / XML declaration, then
  detection, then UTF-8 with replacement characters.

Responses are classified in ``_classify`` and nowhere else, transport errors in
``Fetcher._request``: timeouts, connection errors, 429 and 5xx are transient and retried (exponential backoff with jitter, honouring
Retry-After up to ``retry_max_wait``); 401/403 and bot-challenge pages are ``blocked``
(transient, not retried within the call); 404/410 are ``gone``; other statuses ``http``.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import email.utils
import logging
import re
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType

import charset_normalizer
import httpx
import tenacity

from watcher.errors import FetchError, FetchErrorKind
from watcher.models import (
    Document,
    DocumentFormat,
    FetchResult,
    FetchSettings,
    Validators,
)

__all__ = ["Fetcher", "decode_body", "fetch_one"]

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
# WHATWG: a <meta> charset counts only within the first 1024 bytes; 4 KB tolerates long heads.
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)"""
    rb"""|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""",
    re.IGNORECASE,
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Browsers read these labels as windows-1252; servers mean it too.
_AS_CP1252 = frozenset({"iso8859-1", "ascii"})
# How much more "chaos" (charset-normalizer's mess ratio) windows-1252 may show than the
# best guess and still win: Polish cp1250 text read as cp1252 scores about 0.085 worse,
# English cp1252 with curly quotes about 0.03 worse than a mac_iceland guess.
_CP1252_MARGIN = 0.05


# --------------------------------------------------------------------------- decoding


def decode_body(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode ``body`` to ``(text, encoding)``; never raises.

    Order: a byte-order mark; the Content-Type charset; a ``<meta>`` charset or XML
    declaration in the first 4 KB (HTML/XML or unknown type); UTF-8; charset-normalizer's
    detection; the declared charset (or UTF-8) with replacement characters. A declared
    charset that the bytes contradict falls through to the next step.
    """
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_codec, errors="replace"), bom_codec
    declared = _codec(_header_charset(content_type))
    candidates = [declared]
    if content_type is None or "html" in content_type or "xml" in content_type:
        match = _META_CHARSET.search(body[:4096])
        if match:
            meta = _codec((match.group(1) or match.group(2)).decode("ascii"))
            # WHATWG: a <meta> cannot declare UTF-16/32, the bytes around it are ASCII
            candidates.append("utf-8" if meta and meta.startswith("utf-") else meta)
    candidates.append("utf-8")
    for name in candidates:
        if name is not None:
            with contextlib.suppress(UnicodeDecodeError):
                return body.decode(name), name
    detected = _detect(body)
    if detected is not None:
        return detected
    fallback = declared or "utf-8"
    return body.decode(fallback, errors="replace"), fallback


def _detect(body: bytes) -> tuple[str, str] | None:
    """charset-normalizer's guess, leaning to windows-1252 when it fits nearly as well.

    Its ranking is unreliable on short Western text (French in Latin-1 came out as cp1257);
    browsers fall back to windows-1252 for English pages, and so do we within a margin.
    """
    # Web pages are never UTF-16/32 without a BOM (handled before); binary junk often
    # "detects" as such, so only ASCII-compatible guesses count.
    matches = [
        match
        for match in charset_normalizer.from_bytes(body)
        if not match.encoding.startswith(("utf_16", "utf_32"))
    ]
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        near = match.chaos <= best.chaos + _CP1252_MARGIN
        if near and "cp1252" in match.could_be_from_charset:
            with contextlib.suppress(UnicodeDecodeError):
                return body.decode("cp1252"), "cp1252"
    return str(best), _codec(best.encoding) or best.encoding


def _header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _codec(label: str | None) -> str | None:
    """Python's name for a charset label, or None when Python has no such codec."""
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
        b"x".decode(name, errors="ignore")  # LookupError for base64, rot13 and kin
    except LookupError:
        return None
    return "cp1252" if name in _AS_CP1252 else name


# --------------------------------------------------------------------------- politeness


class _Politeness:
    """Turn-taking for one Fetcher, valid across tasks, event loops and threads.

    Waiters park on a future of their own loop and are woken with call_soon_threadsafe, so
    no asyncio primitive is bound to a loop that a later ``asyncio.run`` no longer has.
    """

    def __init__(self, interval: float, concurrency: int) -> None:
        self._interval = interval
        self._capacity = max(1, concurrency)
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._last_end: dict[str, float] = {}
        self._active = 0
        # key: a host, or "" for the concurrency slots
        self._waiters: dict[
            str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]
        ] = {}

    @contextlib.asynccontextmanager
    async def turn(self, host: str) -> AsyncIterator[None]:
        await self._claim(
            host, lambda: host not in self._busy, lambda: self._busy.add(host)
        )
        try:
            while (
                wait := self._last_end.get(host, -1e9)
                + self._interval
                - time.monotonic()
            ) > 0:
                await asyncio.sleep(wait)
            await self._claim(
                "", lambda: self._active < self._capacity, self._take_slot
            )
            try:
                yield
            finally:
                self._release("", self._give_slot)
        finally:
            self._release(host, lambda: self._end(host))

    def _take_slot(self) -> None:
        self._active += 1

    def _give_slot(self) -> None:
        self._active -= 1

    def _end(self, host: str) -> None:
        self._busy.discard(host)
        self._last_end[host] = time.monotonic()

    async def _claim(
        self, key: str, free: Callable[[], bool], take: Callable[[], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if free():
                    take()
                    return
                future: asyncio.Future[None] = loop.create_future()
                entry = (loop, future)
                self._waiters.setdefault(key, []).append(entry)
            try:
                await future
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.get(key, []).remove(entry)

    def _release(self, key: str, give: Callable[[], None]) -> None:
        with self._lock:
            give()
            waiters = self._waiters.pop(key, [])
        # Wake every waiter of this key; each re-checks under the lock (a cancelled one
        # cannot swallow the wake-up).
        for loop, future in waiters:
            # a loop that has closed has no one left waiting on it
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
        self._politeness = _Politeness(settings.per_host_interval, settings.concurrency)
        self._closed = False

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Refuse further fetches. Connections live per fetch, so none are left open."""
        self._closed = True

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
        client = self._client(doc.format)
        try:
            result: FetchResult = await retrying(
                self._attempt, client, doc, validators or Validators()
            )
        except _Retry as exc:
            logger.info("%s: giving up: %s", doc.id, exc.error)
            raise exc.error from exc.error.__cause__
        finally:
            if self._transport is None:
                await client.aclose()
        logger.debug(
            "%s: %s in %.2fs", doc.id, result.status, time.monotonic() - started
        )
        return dataclasses.replace(result, elapsed=time.monotonic() - started)

    def _client(self, fmt: DocumentFormat) -> httpx.AsyncClient:
        settings = self._settings
        headers = {
            "User-Agent": settings.user_agent,
            "Accept": _ACCEPT[fmt],
            "Accept-Language": "en-US,en;q=0.8",
            "Accept-Encoding": "gzip, deflate",  # decoded here, within max_bytes
        }
        timeout = httpx.Timeout(settings.timeout)
        if self._transport is not None:
            return httpx.AsyncClient(
                transport=self._transport, headers=headers, timeout=timeout
            )
        return httpx.AsyncClient(
            verify=self._ssl or True, headers=headers, timeout=timeout
        )

    async def _attempt(
        self, client: httpx.AsyncClient, doc: Document, validators: Validators
    ) -> FetchResult:
        """One pass along the redirect chain. Raises FetchError, or _Retry when transient."""
        url, seen = doc.url, {doc.url}
        headers = {}
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
                body = await _read(response, doc.url, cap, truncate=False)
            else:
                body = await _read(response, doc.url, _ERROR_BODY_BYTES, truncate=True)
            return status, response.headers, body, None


async def _read(
    response: httpx.Response, url: str, limit: int, *, truncate: bool
) -> bytes:
    """Read and decompress at most ``limit`` bytes; past it, stop (truncate) or raise too_large."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if response.is_stream_consumed:
        # a transport such as httpx.MockTransport hands back a response already read and
        # decoded by httpx
        encoding = ""
    try:
        inflater = _Inflater(encoding)
    except ValueError:
        message = f"unsupported Content-Encoding {encoding!r}"
        raise FetchError("invalid", url, message, status=response.status_code) from None
    parts: list[bytes] = []
    size = 0
    try:
        async for raw in _raw_chunks(response):
            part = inflater.feed(raw, limit + 1 - size)  # room is >= 1 here
            parts.append(part)
            size += len(part)
            if size > limit:
                if truncate:
                    return b"".join(parts)[:limit]
                message = f"body above {limit} bytes"
                raise FetchError("too_large", url, message, status=response.status_code)
        parts.append(inflater.flush())
    except zlib.error as exc:
        message = f"corrupt {encoding} body: {exc}"
        raise FetchError("invalid", url, message, status=response.status_code) from exc
    return b"".join(parts)[: limit if truncate else None]


async def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.is_stream_consumed:
        yield response.content
    else:
        async for raw in response.aiter_raw():
            yield raw


class _Inflater:
    """Undoes one Content-Encoding without ever producing more than it is asked for.

    httpx's own decoders inflate a whole network chunk at once: 64 KB of a gzip bomb
    becomes 64 MB before anyone can count it. ``max_length`` bounds every step here.
    """

    def __init__(self, encoding: str) -> None:
        if encoding in ("gzip", "x-gzip"):
            self._wbits: int | None = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            self._wbits = 0  # zlib-wrapped or raw: decided by the first byte
        elif encoding in ("", "identity"):
            self._wbits = None
        else:
            raise ValueError(encoding)
        self._zlib: zlib._Decompress | None = None

    def feed(self, data: bytes, room: int) -> bytes:
        """Up to ``room`` (>= 1) bytes of output; the rest of the input is dropped past it."""
        if self._wbits is None:
            return data[:room]
        if self._zlib is None:
            wbits = self._wbits or (
                zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS
            )
            self._zlib = zlib.decompressobj(wbits)
        return self._zlib.decompress(data, room)

    def flush(self) -> bytes:
        return self._zlib.flush() if self._zlib is not None else b""


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


def fetch_one(
    settings: FetchSettings, doc: Document, validators: Validators | None = None
) -> FetchResult:
    """Fetch one document from synchronous code (``watcher extract``). Raises ``FetchError``."""

    async def run() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch(doc, validators)

    return asyncio.run(run())
