"""Read a response body for ``watcher.fetch``: bounded, and decompressed within the bound.

Contract: ``read_body(response, url, limit, truncate=...)`` returns at most ``limit`` bytes of
the decoded body (gzip, deflate or identity). Past the limit it stops and returns the first
``limit`` bytes (``truncate=True``) or raises ``FetchError("too_large")``. An unsupported
Content-Encoding or a corrupt compressed stream raises ``FetchError("invalid")``; zlib errors
never escape. Transport errors (httpx) pass through to ``Fetcher._request``, which converts
them.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import httpx

from watcher.errors import FetchError

__all__ = ["read_body"]


async def read_body(
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
