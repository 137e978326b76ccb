"""fetch.py against a real local HTTP server: conditional GET, retries, caps, politeness."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import LocalServer, Reply, Request
from watcher.errors import FetchError
from watcher.fetch import Fetcher, decode_body, fetch_one
from watcher.models import (
    Document,
    DocumentFormat,
    FetchResult,
    FetchSettings,
    Validators,
)

PAGE = "<html><head><title>Terms</title></head><body><h1>Terms</h1><p>Hello.</p></body></html>"
FAST = FetchSettings(
    timeout=1.0,
    max_bytes=1_000_000,
    per_host_interval=0.0,
    retries=2,
    retry_max_wait=10.0,
    max_redirects=3,
    user_agent="policy-watcher-test/1.0 (+https://example.org/bot)",
)


def make_doc(url: str, fmt: DocumentFormat = "html") -> Document:
    return Document(
        platform="acme",
        name="terms",
        platform_name="Acme",
        type="terms_of_service",
        url=url,
        format=fmt,
    )


class Sleeps:
    """The injected sleep: records what the retry loop asked for and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def fetch(
    url: str,
    settings: FetchSettings = FAST,
    validators: Validators | None = None,
    sleeps: Sleeps | None = None,
    fmt: DocumentFormat = "html",
) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(settings, sleep=sleeps or Sleeps()) as fetcher:
            return await fetcher.fetch(make_doc(url, fmt), validators)

    return asyncio.run(run())


def fetch_error(url: str, **kwargs: object) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, **kwargs)  # type: ignore[arg-type]
    return info.value


def sequence(*replies: Reply) -> Callable[[Request], Reply]:
    """A route answering with each reply in turn, then repeating the last."""
    calls = iter(replies)
    last = replies[-1]

    def route(request: Request) -> Reply:
        return next(calls, last)

    return route


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LocalServer]:
    server = LocalServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http_server(shared_server: LocalServer) -> LocalServer:
    """conftest's server, started once per module: its shutdown polls every 0.5 s."""
    shared_server.routes.clear()
    shared_server.requests.clear()
    return shared_server


# --------------------------------------------------------------------------- success, conditional GET


def test_200_then_304_with_etag(http_server: LocalServer) -> None:
    url = http_server.set("/terms", PAGE)

    first = fetch(url)
    assert (first.status, first.not_modified, first.text) == (200, False, PAGE)
    assert first.validators.etag
    assert first.encoding == "utf-8"

    second = fetch(url, validators=first.validators)
    assert (second.status, second.not_modified) == (304, True)
    assert (second.body, second.text) == (b"", "")
    assert second.validators == first.validators
    assert http_server.requests[-1].headers["if-none-match"] == first.validators.etag


def test_last_modified_round_trip(http_server: LocalServer) -> None:
    stamp = "Wed, 21 Oct 2025 07:28:00 GMT"

    def route(request: Request) -> Reply:
        if request.headers.get("if-modified-since") == stamp:
            return Reply(status=304, conditional=False)
        return Reply(PAGE.encode(), headers={"Last-Modified": stamp}, conditional=False)

    http_server.routes["/privacy"] = route
    url = http_server.url("/privacy")

    first = fetch(url)
    assert first.validators == Validators(etag=None, last_modified=stamp)
    second = fetch(url, validators=first.validators)
    assert second.not_modified
    assert second.validators.last_modified == stamp  # the 304 carried none: keep ours


def test_sends_user_agent_and_accept_for_the_format(http_server: LocalServer) -> None:
    url = http_server.set(
        "/api.json",
        '{"article": {"body": "<p>x</p>"}}',
        content_type="application/json",
    )
    result = fetch(url, fmt="json")
    assert result.text == '{"article": {"body": "<p>x</p>"}}'
    headers = http_server.requests[-1].headers
    assert headers["user-agent"] == FAST.user_agent
    assert headers["accept"].startswith("application/json")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_page_is_decoded(http_server: LocalServer, encoding: str) -> None:
    raw = PAGE.encode() * 50
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    url = http_server.set("/z", body, headers={"Content-Encoding": encoding})
    assert fetch(url).body == raw


def test_fetch_one_runs_from_sync_code(http_server: LocalServer) -> None:
    url = http_server.set("/terms", PAGE)
    assert fetch_one(FAST, make_doc(url)).text == PAGE


def test_injected_transport_is_used_and_left_open() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=PAGE, headers={"ETag": '"v1"'})

    transport = httpx.MockTransport(handler)

    async def run() -> list[FetchResult]:
        async with Fetcher(FAST, transport=transport) as fetcher:
            doc = make_doc("https://docs.example.org/terms")
            return [await fetcher.fetch(doc), await fetcher.fetch(doc)]

    results = asyncio.run(run())
    assert [r.text for r in results] == [PAGE, PAGE]
    assert results[0].validators.etag == '"v1"'
    assert seen[0].headers["user-agent"] == FAST.user_agent


# --------------------------------------------------------------------------- retries


def test_503_then_success_is_one_result(http_server: LocalServer) -> None:
    http_server.routes["/flaky"] = sequence(
        Reply(b"down", status=503), Reply(PAGE.encode())
    )
    sleeps = Sleeps()
    result = fetch(http_server.url("/flaky"), sleeps=sleeps)
    assert result.text == PAGE
    assert http_server.hits("/flaky") == 2
    assert len(sleeps.calls) == 1
    assert 0 < sleeps.calls[0] <= FAST.retry_max_wait


def test_retry_after_seconds_is_honoured(http_server: LocalServer) -> None:
    http_server.routes["/busy"] = sequence(
        Reply(b"slow down", status=429, headers={"Retry-After": "7"}),
        Reply(PAGE.encode()),
    )
    sleeps = Sleeps()
    assert fetch(http_server.url("/busy"), sleeps=sleeps).text == PAGE
    assert sleeps.calls == [7.0]


def test_retry_after_http_date_is_honoured(http_server: LocalServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    http_server.routes["/busy"] = sequence(
        Reply(b"maintenance", status=503, headers={"Retry-After": when}),
        Reply(PAGE.encode()),
    )
    sleeps = Sleeps()
    assert fetch(http_server.url("/busy"), sleeps=sleeps).text == PAGE
    assert len(sleeps.calls) == 1
    assert 3.0 <= sleeps.calls[0] <= 5.0


def test_retry_after_above_the_bound_gives_up_now(http_server: LocalServer) -> None:
    url = http_server.set("/busy", "later", status=429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    error = fetch_error(url, sleeps=sleeps)
    assert (error.kind, error.status, error.transient) == ("rate_limited", 429, True)
    assert sleeps.calls == []
    assert http_server.hits("/busy") == 1


def test_429_until_retries_run_out_is_rate_limited(http_server: LocalServer) -> None:
    url = http_server.set("/busy", "no", status=429)
    sleeps = Sleeps()
    error = fetch_error(url, sleeps=sleeps)
    assert (error.kind, error.transient) == ("rate_limited", True)
    assert http_server.hits("/busy") == FAST.retries + 1
    assert len(sleeps.calls) == FAST.retries


def test_500_until_retries_run_out_is_server(http_server: LocalServer) -> None:
    url = http_server.set("/broken", "oops", status=500)
    error = fetch_error(url)
    assert (error.kind, error.status, error.transient) == ("server", 500, True)


def test_timeout_is_transient_and_bounded(http_server: LocalServer) -> None:
    url = http_server.set("/slow", PAGE, delay=1.5)
    settings = FetchSettings(timeout=0.3, retries=1, per_host_interval=0.0)
    started = time.monotonic()
    error = fetch_error(url, settings=settings)
    assert (error.kind, error.transient) == ("timeout", True)
    assert time.monotonic() - started < 1.4
    assert http_server.hits("/slow") == 2


def test_connection_refused_is_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # closed again: nothing listens there now
    error = fetch_error(
        f"http://127.0.0.1:{port}/",
        settings=FetchSettings(retries=1, timeout=1.0, per_host_interval=0.0),
    )
    assert (error.kind, error.transient) == ("connection", True)


# --------------------------------------------------------------------------- classification


def test_403_is_blocked_and_not_retried(http_server: LocalServer) -> None:
    url = http_server.set("/terms", "Forbidden", status=403)
    error = fetch_error(url)
    assert (error.kind, error.status, error.transient) == ("blocked", 403, True)
    assert http_server.hits("/terms") == 1


CLOUDFLARE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper">
<noscript>Enable JavaScript and cookies to continue</noscript>
<script>(function(){window._cf_chl_opt={cvId: '3',cZone: "docs.midjourney.com"};
var a=document.createElement('script');a.src='/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1';
}());</script></div></body></html>"""


@pytest.mark.parametrize("status", [200, 503])
def test_cloudflare_challenge_page_is_blocked(
    http_server: LocalServer, status: int
) -> None:
    url = http_server.set("/terms", CLOUDFLARE, status=status)
    error = fetch_error(url)
    assert (error.kind, error.transient) == ("blocked", True)
    assert http_server.hits("/terms") == 1


def test_small_captcha_interstitial_is_blocked(http_server: LocalServer) -> None:
    page = '<html><body><div class="g-recaptcha" data-sitekey="x"></div></body></html>'
    url = http_server.set("/terms", page)
    assert fetch_error(url).kind == "blocked"


def test_real_page_mentioning_captcha_is_not_blocked(http_server: LocalServer) -> None:
    # Cloudflare injects its "jsd" challenge-platform script into ordinary pages too.
    paragraph = "<p>We use reCAPTCHA and Cloudflare to protect the service. We keep logs for 30 days.</p>"
    page = (
        "<html><head><title>Privacy Policy</title></head><body>"
        + paragraph * 500
        + "<script>a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js'</script></body></html>"
    )
    url = http_server.set("/privacy", page)
    assert "reCAPTCHA" in fetch(url).text


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_are_gone(http_server: LocalServer, status: int) -> None:
    url = http_server.set("/old", "gone", status=status)
    error = fetch_error(url)
    assert (error.kind, error.status, error.transient) == ("gone", status, False)
    assert http_server.hits("/old") == 1


def test_other_4xx_is_http(http_server: LocalServer) -> None:
    url = http_server.set("/teapot", "short and stout", status=418)
    assert fetch_error(url).kind == "http"


# --------------------------------------------------------------------------- redirects and schemes


def test_redirect_is_followed_and_recorded(http_server: LocalServer) -> None:
    http_server.set("/docs/plans", "", status=301, headers={"Location": "/hc/plans"})
    http_server.set("/hc/plans", PAGE)
    result = fetch(http_server.url("/docs/plans"))
    assert result.url == http_server.url("/docs/plans")
    assert result.final_url == http_server.url("/hc/plans")
    assert result.text == PAGE


def test_redirect_loop_is_redirects(http_server: LocalServer) -> None:
    http_server.set("/a", "", status=302, headers={"Location": "/b"})
    http_server.set("/b", "", status=302, headers={"Location": "/a"})
    assert fetch_error(http_server.url("/a")).kind == "redirects"


def test_too_many_redirects_is_redirects(http_server: LocalServer) -> None:
    for hop in range(6):
        http_server.set(
            f"/r{hop}", "", status=307, headers={"Location": f"/r{hop + 1}"}
        )
    http_server.set("/r6", PAGE)
    assert fetch_error(http_server.url("/r0")).kind == "redirects"
    assert http_server.hits("/r6") == 0


def test_redirect_to_ftp_is_invalid(http_server: LocalServer) -> None:
    http_server.set(
        "/terms", "", status=302, headers={"Location": "ftp://example.org/terms.txt"}
    )
    assert fetch_error(http_server.url("/terms")).kind == "invalid"


@pytest.mark.parametrize("url", ["ftp://example.org/terms.txt", "file:///etc/passwd"])
def test_non_http_url_is_invalid(url: str) -> None:
    assert fetch_error(url).kind == "invalid"


# --------------------------------------------------------------------------- size cap


def test_content_length_above_cap_is_rejected_before_reading(
    http_server: LocalServer,
) -> None:
    # The header promises 5 MB but only 10 bytes come: reading would wait for a timeout.
    url = http_server.set("/big", b"x" * 10, headers={"Content-Length": "5000000"})
    error = fetch_error(url)
    assert error.kind == "too_large"


class _ChunkedHandler(BaseHTTPRequestHandler):
    """Streams 3 MB with chunked transfer encoding and no Content-Length."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(48):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def chunked_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChunkedHandler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream"
    finally:
        server.shutdown()
        server.server_close()


def test_chunked_body_above_cap_is_too_large(chunked_url: str) -> None:
    assert fetch_error(chunked_url).kind == "too_large"


BOMB_SIZE = 200 * 1024 * 1024


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """200 MB of zeros, gzipped to about 200 KB, built without holding the 200 MB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts = [packer.compress(zeros) for _ in range(BOMB_SIZE // len(zeros))]
    return b"".join([*parts, packer.flush()])


def test_gzip_bomb_stops_at_cap_with_small_memory(
    http_server: LocalServer, gzip_bomb: bytes
) -> None:
    url = http_server.set("/bomb", gzip_bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        error = fetch_error(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "too_large"
    assert peak < 20 * 1024 * 1024, f"peak {peak} bytes"


# --------------------------------------------------------------------------- charsets

# Detection needs a sentence or two: charset-normalizer reads one short Russian line as Big5.
RUSSIAN = (
    "Политика конфиденциальности: мы храним ваши данные тридцать дней "
    "и не передаём их третьим лицам."
)
FRENCH = "Les conditions générales s'appliquent à tous les utilisateurs. Être averti : les données sont conservées deux ans."


def test_latin1_bytes_labelled_utf8_do_not_crash(http_server: LocalServer) -> None:
    url = http_server.set(
        "/fr", FRENCH.encode("latin-1"), content_type="text/html; charset=utf-8"
    )
    assert fetch(url).text == FRENCH


def test_cp1252_declared_only_in_meta(http_server: LocalServer) -> None:
    page = '<html><head><meta charset="windows-1252"><title>Plans</title></head><body>\u2018Stealth\u2019 \u2014 Pro \u20ac60</body></html>'
    url = http_server.set("/plans", page.encode("cp1252"), content_type="text/html")
    result = fetch(url)
    assert (result.text, result.encoding) == (page, "cp1252")


def test_http_equiv_charset(http_server: LocalServer) -> None:
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head><body>caf\u00e9</body></html>'
    url = http_server.set("/p", page.encode("latin-1"), content_type="text/html")
    assert fetch(url).text == page


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (
            "Stealth Mode \u2014 \u201cprivate\u201d generation, \u20ac60/month. We\u2019ll keep it.",
            "cp1252",
        ),
        (
            "Datenschutzerkl\u00e4rung: Wir speichern Ihre Daten drei\u00dfig Tage.",
            "cp1252",
        ),
        (
            RUSSIAN,
            "cp1251",
        ),
        ("Privacy \u2014 30 days \u2192 deleted \u2713", "utf-8"),
    ],
    ids=["cp1252-quotes", "cp1252-german", "cp1251-russian", "utf-8"],
)
def test_no_charset_anywhere_is_detected(text: str, codec: str) -> None:
    assert decode_body(text.encode(codec), "text/plain")[0] == text


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html; charset=base64",
        "text/html; charset=no-such-thing",
        "text/html; charset=",
        None,
    ],
)
def test_decode_body_never_raises_on_junk(content_type: str | None) -> None:
    text, encoding = decode_body(b"\x00\xff\xfe\x81\x8d garbage \xc3(", content_type)
    assert "garbage" in text
    assert encoding


def test_byte_order_mark_wins() -> None:
    body = "\ufeffcaf\u00e9".encode("utf-16-le")
    assert decode_body(body, "text/html; charset=iso-8859-1") == (
        "caf\u00e9",
        "utf-16-le",
    )


# --------------------------------------------------------------------------- politeness


def starts(server: LocalServer) -> list[float]:
    return sorted(r.at for r in server.requests)


def test_an_opened_fetcher_reuses_its_connection_to_a_host(
    http_server: LocalServer,
) -> None:
    paths = [f"/p{n}" for n in range(6)]
    for path in paths:
        http_server.set(path, PAGE)
    settings = FetchSettings(per_host_interval=0.0, timeout=2.0)

    async def run() -> None:
        async with Fetcher(settings) as fetcher:
            for path in paths:
                await fetcher.fetch(make_doc(http_server.url(path)))

    asyncio.run(run())
    assert len({r.client_port for r in http_server.requests}) == 1

    # not opened: each fetch has a connection of its own, closed when it returns
    http_server.requests.clear()
    fetcher = Fetcher(settings)
    for path in paths[:2]:
        asyncio.run(fetcher.fetch(make_doc(http_server.url(path))))
    assert len({r.client_port for r in http_server.requests}) == 2


def test_closing_the_fetcher_lets_fetches_in_flight_finish(
    http_server: LocalServer,
) -> None:
    http_server.set("/slow", PAGE, delay=0.3)
    settings = FetchSettings(per_host_interval=0.0, timeout=2.0)

    async def run() -> tuple[FetchResult, BaseException | None]:
        fetcher = Fetcher(settings).open()
        slow = asyncio.create_task(fetcher.fetch(make_doc(http_server.url("/slow"))))
        await asyncio.sleep(0.05)
        await fetcher.aclose()  # as a reload does with the old fetcher
        refused: BaseException | None = None
        try:
            await fetcher.fetch(make_doc(http_server.url("/slow")))
        except RuntimeError as exc:
            refused = exc
        return await slow, refused

    result, refused = asyncio.run(run())
    assert result.status == 200
    assert isinstance(refused, RuntimeError)


def test_one_host_is_serialized_with_the_interval(http_server: LocalServer) -> None:
    for path in ("/a", "/b", "/c"):
        http_server.set(path, PAGE)
    settings = FetchSettings(per_host_interval=0.3, timeout=2.0)

    async def run() -> None:
        async with Fetcher(settings) as fetcher:
            await asyncio.gather(
                *(
                    fetcher.fetch(make_doc(http_server.url(p)))
                    for p in ("/a", "/b", "/c")
                )
            )

    asyncio.run(run())
    times = starts(http_server)
    assert len(times) == 3
    assert all(later - earlier >= 0.28 for earlier, later in itertools.pairwise(times))


def test_two_hosts_are_fetched_in_parallel(http_server: LocalServer) -> None:
    http_server.set("/slow", PAGE, delay=0.5)
    urls = [http_server.url("/slow"), f"http://localhost:{http_server.port}/slow"]
    settings = FetchSettings(per_host_interval=5.0, timeout=2.0)

    async def run() -> None:
        async with Fetcher(settings) as fetcher:
            await asyncio.gather(*(fetcher.fetch(make_doc(url)) for url in urls))

    started = time.monotonic()
    asyncio.run(run())
    first, second = starts(http_server)
    assert (
        second - first < 0.3
    )  # the second began while the first was still being served
    assert time.monotonic() - started < 0.95


def test_concurrency_limit_holds_across_hosts(http_server: LocalServer) -> None:
    http_server.set("/slow", PAGE, delay=0.3)
    urls = [http_server.url("/slow"), f"http://localhost:{http_server.port}/slow"]
    settings = FetchSettings(per_host_interval=0.0, concurrency=1, timeout=2.0)

    async def run() -> None:
        async with Fetcher(settings) as fetcher:
            await asyncio.gather(*(fetcher.fetch(make_doc(url)) for url in urls))

    asyncio.run(run())
    first, second = starts(http_server)
    assert second - first >= 0.28


def test_politeness_holds_across_event_loops_and_threads(
    http_server: LocalServer,
) -> None:
    """The daemon may run each job in its own thread with its own asyncio.run."""
    http_server.set("/a", PAGE)
    http_server.set("/b", PAGE)
    fetcher = Fetcher(FetchSettings(per_host_interval=0.3, timeout=2.0))
    results: list[FetchResult] = []

    def job(path: str) -> None:
        results.append(asyncio.run(fetcher.fetch(make_doc(http_server.url(path)))))

    threads = [threading.Thread(target=job, args=(path,)) for path in ("/a", "/b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(results) == 2
    first, second = starts(http_server)
    assert second - first >= 0.28
