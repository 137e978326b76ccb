"""Notify: rendering, routing and delivery through apprise to real local SMTP and HTTP servers.

Email goes to an aiosmtpd server on 127.0.0.1; the generic webhook (json://) to a local HTTP
server; Slack's host cannot be reached, so its payload is read where apprise hands it to
``requests``. Delivery runs against an in-memory outbox with the store's semantics, and once
against the real SnapshotStore on SQLite.
"""

from __future__ import annotations

import contextlib
import email
import json
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
import requests
from aiosmtpd.controller import Controller

from tests.conftest import FixedClock
from watcher.errors import NotifyError
from watcher.models import (
    AlertEvent,
    Channel,
    Delivery,
    NotifySettings,
    OutboxEvent,
)
from watcher.notify import (
    DELIVERY_LEASE,
    SLACK_TEXT_LIMIT,
    SLACK_TITLE_LIMIT,
    AppriseNotifier,
    DeliveryReport,
    Message,
    Outbox,
    channel_kind,
    deliver,
    render,
    route,
    send_test,
)

HOSTILE = "<script>alert(1)</script> \x1b[31mRED\x1b[0m \u202eevil"
SUBJECT = (
    'Midjourney ToS: Stealth clause changed — fact "stealth-pro-mega-only" now broken'
)
SLACK_URL = (
    "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"
)


@pytest.fixture(autouse=True)
def _apprise_warnings(caplog: pytest.LogCaptureFixture) -> None:
    """apprise records a send's warnings in its result only when its logger lets them
    through; NotifyError's reason comes from there. The CLI quiets that logger for the whole
    process (and its tests leave it so), so set it here."""
    caplog.set_level(logging.WARNING, logger="apprise")


# --------------------------------------------------------------------------- local servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """aiosmtpd on 127.0.0.1; ``stop``/``start`` keep the port, as an SMTP outage would."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.messages: list[EmailMessage] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append(parsed)
        return "250 OK"

    def url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?mode=insecure"
            "&from=watcher@example.com&to=policy@example.com"
        )

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


class PostSink:
    """A local HTTP server that records every POST body and answers ``status``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                sink.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def webhook() -> Iterator[PostSink]:
    sink = PostSink()
    try:
        yield sink
    finally:
        sink.close()


# --------------------------------------------------------------------------- outboxes


class MemoryOutbox:
    """The store's outbox semantics (watcher.store.SnapshotStore), in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[int, tuple[AlertEvent, datetime]] = {}
        self._done: set[int] = set()
        self._deliveries: dict[tuple[int, str], Delivery] = {}

    def add_events(self, events: Sequence[AlertEvent], at: datetime) -> int:
        with self._lock:
            keys = {e.key for e, _ in self._events.values()}
            new = [e for e in events if e.key not in keys]
            for e in new:
                self._events[len(self._events) + 1] = (e, at)
            return len(new)

    def pending_events(self) -> list[OutboxEvent]:
        with self._lock:
            return [
                OutboxEvent(
                    i,
                    e,
                    at,
                    tuple(d for (ei, _), d in self._deliveries.items() if ei == i),
                )
                for i, (e, at) in sorted(
                    self._events.items(), key=lambda x: (x[1][1], x[0])
                )
                if i not in self._done
            ]

    def claim_delivery(
        self, event_id: int, channel: str, at: datetime, lease: timedelta
    ) -> bool:
        with self._lock:
            d = self._deliveries.get((event_id, channel), Delivery(event_id, channel))
            if event_id in self._done or d.sent_at or d.failed_at:
                return False
            if d.claimed_at is not None and d.claimed_at > at - lease:
                return False
            self._deliveries[(event_id, channel)] = replace(
                d, claimed_at=at, attempts=d.attempts + 1
            )
            return True

    def _update(self, event_id: int, channel: str, **values: Any) -> None:
        with self._lock:
            d = self._deliveries.get((event_id, channel), Delivery(event_id, channel))
            self._deliveries[(event_id, channel)] = replace(
                d, claimed_at=None, **values
            )

    def mark_sent(self, event_id: int, channel: str, at: datetime) -> None:
        self._update(event_id, channel, sent_at=at)

    def mark_retry(
        self,
        event_id: int,
        channel: str,
        at: datetime,
        error: str,
        next_try_at: datetime,
    ) -> None:
        self._update(event_id, channel, last_error=error, next_try_at=next_try_at)

    def mark_given_up(
        self, event_id: int, channel: str, at: datetime, error: str
    ) -> None:
        self._update(event_id, channel, failed_at=at, last_error=error)

    def mark_event_done(self, event_id: int) -> None:
        assert event_id in self._events
        self._done.add(event_id)

    def delivery(self, event_id: int, channel: str) -> Delivery:
        return self._deliveries[(event_id, channel)]

    def failed_deliveries(self) -> list[Delivery]:
        return [d for d in self._deliveries.values() if d.failed_at is not None]


class Synchronised:
    """Both deliver() calls read the outbox before either claims: the race is real."""

    def __init__(self, inner: Outbox, barrier: threading.Barrier) -> None:
        self.inner = inner
        self.barrier = barrier

    def pending_events(self) -> list[OutboxEvent]:
        events = self.inner.pending_events()
        self.barrier.wait(timeout=10)
        return events

    def claim_delivery(self, *args: Any) -> bool:
        return self.inner.claim_delivery(*args)

    def mark_sent(self, *args: Any) -> None:
        self.inner.mark_sent(*args)

    def mark_retry(self, *args: Any) -> None:
        self.inner.mark_retry(*args)

    def mark_given_up(self, *args: Any) -> None:
        self.inner.mark_given_up(*args)

    def mark_event_done(self, *args: Any) -> None:
        self.inner.mark_event_done(*args)


class SimulatedCrash(Exception):
    """The process dies here."""


class CrashBeforeMarkSent(MemoryOutbox):
    """The first mark_sent never happens: the process died right after the send."""

    crashed = False

    def mark_sent(self, event_id: int, channel: str, at: datetime) -> None:
        if not self.crashed:
            self.crashed = True
            raise SimulatedCrash
        super().mark_sent(event_id, channel, at)


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    def send(self, channel: Channel, message: Message) -> None:
        self.sent.append((channel.name, message))


class FailingNotifier:
    def send(self, channel: Channel, message: Message) -> None:
        raise NotifyError(f"{channel.name}: service unavailable")


# --------------------------------------------------------------------------- events


def _change(
    change_id: int = 42,
    *,
    severity: str = "alert",
    topics: tuple[str, ...] = ("private_mode",),
    platform: str = "midjourney",
    platform_name: str = "Midjourney",
    subject: str = SUBJECT,
    added: str = "Mega",
    clauses: list[dict[str, object]] | None = None,
) -> AlertEvent:
    """An event shaped as the pipeline builds it."""
    clause = {
        "heading": ["Rights You give", "Stealth"],
        "kind": "changed",
        "topics": list(topics),
        "ops": [
            [0, "If You purchased the Stealth feature as part of Your "],
            [-1, "Pro or Mega"],
            [1, added],
            [
                0,
                " subscription, we agree to make best efforts not to publish any Assets.",
            ],
        ],
    }
    return AlertEvent(
        key=f"change:{change_id}",
        kind="change",
        severity=severity,  # type: ignore[arg-type]
        platform=platform,
        doc_id=f"{platform}/terms",
        topics=topics,
        subject=subject,
        payload={
            "platform_name": platform_name,
            "document_title": f"{platform_name} Terms Of Service",
            "doc_url": f"https://{platform}.example.com/terms?lang=en&v=2",
            "change_id": change_id,
            "summary": "1 clause changed in Stealth",
            "clauses": [clause] if clauses is None else clauses,
            "facts": [
                {
                    "id": f"{platform}.stealth-pro-mega-only",
                    "claim": "Stealth Mode is sold only with Pro and Mega.",
                    "before": "holds",
                    "after": "broken",
                    "reason": "all_of failed: terms",
                }
            ],
        },
    )


def _settings(
    *channels: Channel, give_up_after: timedelta = timedelta(days=3)
) -> NotifySettings:
    return NotifySettings(channels=channels, give_up_after=give_up_after)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    return cast(EmailMessage, plain).get_content(), cast(
        EmailMessage, html
    ).get_content()


# --------------------------------------------------------------------------- email


def test_alert_email_has_subject_html_and_plain_parts(
    smtp: SmtpSink, clock: FixedClock
) -> None:
    outbox = MemoryOutbox()
    event = _change(added=f"Mega {HOSTILE}")
    outbox.add_events([event], clock())
    mail = Channel("policy-team", smtp.url())

    report = deliver(outbox, _settings(mail), AppriseNotifier(), clock())

    assert report.sent == {"policy-team": (1,)}
    assert report.done == (1,)
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["Subject"] == f"[policy-watcher] {SUBJECT}"
    assert message.get_content_type() == "multipart/alternative"
    plain, html = _parts(message)
    # the diff, in both parts; red/green in HTML, markers in both
    assert "[-Pro or Mega-]" in plain
    assert "{+Mega <script>alert(1)</script> RED" in plain
    assert '<del style="color:#82071e' in html
    assert "<ins " in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html
    for part in (plain, html):
        assert "\x1b" not in part
        assert "\u202e" not in part
        assert "watcher diff 42" in part
        assert (
            "Rights You give &gt; Stealth" in part
            or "Rights You give > Stealth" in part
        )
        assert "midjourney.stealth-pro-mega-only" in part
    assert "https://midjourney.example.com/terms?lang=en&v=2" in plain
    # the plain part apprise derives from the HTML reads as our own plain rendering
    ours = render([event], "email").text_alternative
    assert ours is not None
    assert _lines(plain) == _lines(ours)


def test_event_below_min_severity_sends_nothing(
    smtp: SmtpSink, clock: FixedClock
) -> None:
    outbox = MemoryOutbox()
    outbox.add_events([_change(severity="notice", topics=())], clock())
    mail = Channel("policy-team", smtp.url(), min_severity="alert")

    report = deliver(outbox, _settings(mail), AppriseNotifier(), clock())

    assert smtp.messages == []
    assert report.sent == {}
    assert report.done == (1,)  # nobody wants it: done at once
    assert outbox.pending_events() == []


def test_route_filters_topics_platforms_and_severity() -> None:
    everything = Channel("all", "json://x", min_severity="cosmetic")
    privacy = Channel("privacy", "json://x", topics=("private_mode", "training_use"))
    leonardo = Channel("leonardo", "json://x", platforms=("leonardo",))
    notices = Channel("notices", "json://x", min_severity="notice")
    channels = [everything, privacy, leonardo, notices]

    alert = _change(topics=("private_mode",))
    assert route(alert, channels) == [everything, privacy, notices]
    pricing = _change(topics=("pricing",))
    assert route(pricing, channels) == [everything, notices]
    notice = _change(severity="notice", topics=())
    assert route(notice, channels) == [everything, notices]
    cosmetic = _change(severity="cosmetic", topics=())
    assert route(cosmetic, channels) == [everything]
    other = _change(platform="leonardo", topics=("pricing",))
    assert route(other, channels) == [everything, leonardo, notices]
    # a failing document has no topic; topic-filtered channels still hear about it
    failing = replace(alert, kind="failing", topics=())
    assert route(failing, channels) == [everything, privacy, notices]


# --------------------------------------------------------------------------- webhook, Slack


def test_json_webhook_receives_title_and_body(
    webhook: PostSink, clock: FixedClock
) -> None:
    outbox = MemoryOutbox()
    outbox.add_events([_change()], clock())
    hook = Channel("hook", webhook.url())

    report = deliver(outbox, _settings(hook), AppriseNotifier(), clock())

    assert report.sent == {"hook": (1,)}
    assert len(webhook.bodies) == 1
    body = webhook.bodies[0]
    assert body["title"] == f"[policy-watcher] {SUBJECT}"
    assert "[-Pro or Mega-] {+Mega+}" in body["message"]
    assert "watcher diff 42" in body["message"]
    assert body["type"] == "failure"  # a fact is now broken


def _slack_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_request(
        method: str, url: str, data: Any = None, **kwargs: Any
    ) -> requests.Response:
        calls.append({"url": url, "payload": json.loads(data)})
        response = requests.Response()
        response.status_code = 200
        response._content = b"ok"
        return response

    monkeypatch.setattr(requests, "request", fake_request)
    return calls


def test_slack_gets_mrkdwn_within_slack_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _slack_calls(monkeypatch)
    long_clause: dict[str, object] = {
        "heading": ["Section <b>&amp;</b>"],
        "kind": "changed",
        "topics": ["training_use"],
        "ops": [
            [0, "Kept & <kept> " * 50],
            [-1, "<old> & " * 200],
            [1, "<new> & " * 200],
        ],
    }
    big = _change(
        clauses=[long_clause] * 12,
        subject="A very long subject & <more> " * 10,
        added=f"Mega {HOSTILE} <!channel>",
    )
    notifier = AppriseNotifier()

    notifier.send(Channel("slack", SLACK_URL), render([big], "slack"))
    notifier.send(Channel("blocks", SLACK_URL + "?blocks=yes"), render([big], "slack"))
    notifier.send(
        Channel("small", SLACK_URL), render([_change(added=HOSTILE)], "slack")
    )

    assert [c["url"] for c in calls] == [SLACK_URL.split("?")[0]] * 3
    legacy, blocks, small = (c["payload"] for c in calls)
    text = legacy["attachments"][0]["text"]
    assert legacy["mrkdwn"] is True
    assert len(text) <= SLACK_TEXT_LIMIT
    assert "watcher diff 42" in text  # what did not fit is one command away
    assert "<!channel>" not in text
    section = blocks["attachments"][0]["blocks"][1]["text"]
    header = blocks["attachments"][0]["blocks"][0]["text"]["text"]
    assert section["type"] == "mrkdwn"
    assert len(section["text"]) <= SLACK_TEXT_LIMIT
    assert len(header) <= SLACK_TITLE_LIMIT
    # page text is escaped: tags and Slack control sequences arrive as text
    small_text = small["attachments"][0]["text"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in small_text
    assert "<script" not in small_text
    assert "\x1b" not in small_text
    assert "~Pro or Mega~" in small_text  # removed: struck through
    assert "<https://midjourney.example.com/terms?lang=en&amp;v=2>" in small_text
    assert "`watcher diff 42`" in small_text


def test_slack_refusal_is_a_notify_error_without_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(method: str, url: str, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 403
        response._content = b"invalid_token"
        return response

    monkeypatch.setattr(requests, "request", refuse)
    with pytest.raises(NotifyError) as caught:
        AppriseNotifier().send(
            Channel("slack", SLACK_URL), render([_change()], "slack")
        )
    assert str(caught.value).startswith("slack: ")
    for secret in ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7"):
        assert secret not in str(caught.value)


def test_channel_kind_from_the_url_scheme() -> None:
    assert channel_kind("mailtos://u:p@smtp.example.com?to=a@example.com") == "email"
    assert channel_kind("mailto://127.0.0.1:25") == "email"
    assert channel_kind("slack://T1/A1/B1") == "slack"
    assert channel_kind(SLACK_URL) == "slack"
    assert channel_kind("json://127.0.0.1/hook") == "text"
    assert channel_kind("https://example.com/hooks.slack.com") == "text"


# --------------------------------------------------------------------------- failures


def test_smtp_outage_is_retried_and_then_sent_once(
    smtp: SmtpSink, clock: FixedClock
) -> None:
    outbox = MemoryOutbox()
    outbox.add_events([_change()], clock())
    mail = Channel("policy-team", smtp.url())
    settings = _settings(mail)
    smtp.stop()

    report = deliver(outbox, settings, AppriseNotifier(), clock())

    assert report.retried == {"policy-team": (1,)}
    assert not report.ok
    assert "policy-team" in report.errors
    state = outbox.delivery(1, "policy-team")
    assert state.next_try_at == clock() + timedelta(minutes=1)
    assert state.sent_at is None
    assert len(outbox.pending_events()) == 1  # nothing lost

    smtp.start()
    clock.advance(seconds=30)
    assert deliver(outbox, settings, AppriseNotifier(), clock()).sent == {}
    assert smtp.messages == []  # not before the backoff time

    clock.advance(seconds=30)
    report = deliver(outbox, settings, AppriseNotifier(), clock())
    assert report.sent == {"policy-team": (1,)}
    assert len(smtp.messages) == 1
    clock.advance(hours=2)
    deliver(outbox, settings, AppriseNotifier(), clock())
    assert len(smtp.messages) == 1
    assert outbox.pending_events() == []


def test_crash_between_send_and_mark_resends_once_after_the_lease(
    smtp: SmtpSink, clock: FixedClock
) -> None:
    """The documented window: at least once. The pair is sent again after the lease."""
    outbox = CrashBeforeMarkSent()
    outbox.add_events([_change()], clock())
    settings = _settings(Channel("policy-team", smtp.url()))

    with pytest.raises(SimulatedCrash):
        deliver(outbox, settings, AppriseNotifier(), clock())
    assert len(smtp.messages) == 1

    # the restarted daemon within the lease: the claim still holds, nothing is sent
    clock.advance(minutes=5)
    report = deliver(outbox, settings, AppriseNotifier(), clock())
    assert report.sent == {}
    assert len(smtp.messages) == 1

    # after the lease the pair is sent again, once, and then it is done
    clock.advance(seconds=DELIVERY_LEASE.total_seconds())
    report = deliver(outbox, settings, AppriseNotifier(), clock())
    assert report.sent == {"policy-team": (1,)}
    assert len(smtp.messages) == 2
    clock.advance(hours=1)
    deliver(outbox, settings, AppriseNotifier(), clock())
    assert len(smtp.messages) == 2
    assert outbox.pending_events() == []


def _deliver_twice_at_once(
    outbox: Outbox, settings: NotifySettings, now: datetime
) -> list[DeliveryReport]:
    barrier = threading.Barrier(2)
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(
                deliver(Synchronised(outbox, barrier), settings, AppriseNotifier(), now)
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    return reports


def test_two_deliveries_at_once_send_one_email(
    smtp: SmtpSink, clock: FixedClock
) -> None:
    outbox = MemoryOutbox()
    outbox.add_events([_change()], clock())
    settings = _settings(Channel("policy-team", smtp.url()))

    reports = _deliver_twice_at_once(outbox, settings, clock())

    assert len(smtp.messages) == 1
    assert sorted(len(r.sent) for r in reports) == [0, 1]
    assert outbox.pending_events() == []


def test_gives_up_after_the_configured_age(
    webhook: PostSink, clock: FixedClock
) -> None:
    webhook.status = 503
    outbox = MemoryOutbox()
    start = clock()
    outbox.add_events([_change()], start)
    hook = Channel("hook", webhook.url())
    settings = _settings(hook, give_up_after=timedelta(hours=2))

    # backoff: 1 min, 2 min, 4 min after the 1st, 2nd, 3rd failure
    waits = []
    for _ in range(3):
        report = deliver(outbox, settings, AppriseNotifier(), clock())
        assert report.retried == {"hook": (1,)}
        state = outbox.delivery(1, "hook")
        assert state.next_try_at is not None
        waits.append(state.next_try_at - clock())
        clock.now = state.next_try_at
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4)]
    assert "503" in (state.last_error or "")

    clock.now = start + timedelta(hours=2, minutes=1)
    report = deliver(outbox, settings, AppriseNotifier(), clock())

    assert report.given_up == {"hook": (1,)}
    assert report.done == (1,)
    assert any(line.startswith("hook: gave up on 1") for line in report.lines())
    [failed] = outbox.failed_deliveries()
    assert failed.event_id == 1
    assert failed.last_error is not None
    assert outbox.pending_events() == []
    assert len(webhook.bodies) == 4  # every try reached the server; none was accepted


def test_a_failed_channel_does_not_hold_back_the_others(
    webhook: PostSink, smtp: SmtpSink, clock: FixedClock
) -> None:
    outbox = MemoryOutbox()
    outbox.add_events([_change(1), _change(2)], clock())
    webhook.status = 500
    settings = _settings(Channel("hook", webhook.url()), Channel("mail", smtp.url()))

    report = deliver(outbox, settings, AppriseNotifier(), clock())

    assert report.sent == {"mail": (1, 2)}
    assert report.retried == {"hook": (1, 2)}
    assert len(webhook.bodies) == 1  # one failed try per channel and pass
    assert len(smtp.messages) == 2
    assert len(outbox.pending_events()) == 2


# --------------------------------------------------------------------------- digest


def test_digest_sends_one_message_at_the_digest_time(
    smtp: SmtpSink, clock: FixedClock
) -> None:
    outbox = MemoryOutbox()
    daily = Channel(
        "daily",
        smtp.url(),
        mode="digest",
        digest_every="0 9 * * *",
        timezone="Europe/Berlin",
        min_severity="notice",
    )
    settings = _settings(daily)
    events = [
        _change(1, subject="Midjourney ToS: Stealth clause changed"),
        _change(
            2, subject="Midjourney Privacy: retention shortened", topics=("retention",)
        ),
        _change(
            3,
            platform="leonardo",
            platform_name="Leonardo AI",
            subject="Leonardo AI Terms: training licence widened",
            severity="notice",
            topics=(),
        ),
    ]
    for event in events:  # 12:00, 15:00, 18:00 UTC on June 1
        outbox.add_events([event], clock())
        assert deliver(outbox, settings, AppriseNotifier(), clock()).sent == {}
        clock.advance(hours=3)

    nine_berlin = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # CEST = UTC+2
    report = deliver(
        outbox, settings, AppriseNotifier(), nine_berlin - timedelta(minutes=1)
    )
    assert report.sent == {}
    assert report.waiting == {"daily": (1, 2, 3)}
    assert report.next_digest == {"daily": nine_berlin}
    assert smtp.messages == []

    report = deliver(outbox, settings, AppriseNotifier(), nine_berlin)

    assert report.sent == {"daily": (1, 2, 3)}
    assert len(smtp.messages) == 1
    digest = smtp.messages[0]
    assert digest["Subject"] == (
        "[policy-watcher] Digest: 3 alerts — Midjourney (2), Leonardo AI"
    )
    plain, html = _parts(digest)
    for event in events:
        assert event.subject in plain
        assert event.subject.replace('"', "&quot;") in html
    for n in (1, 2, 3):
        assert f"watcher diff {n}" in plain

    # an event after the digest waits for the next one
    outbox.add_events([_change(4, subject="Midjourney ToS: again")], nine_berlin)
    assert (
        deliver(
            outbox, settings, AppriseNotifier(), nine_berlin + timedelta(hours=23)
        ).sent
        == {}
    )
    report = deliver(
        outbox, settings, AppriseNotifier(), nine_berlin + timedelta(days=1)
    )
    assert report.sent == {"daily": (4,)}
    assert smtp.messages[1]["Subject"] == "[policy-watcher] Midjourney ToS: again"


# --------------------------------------------------------------------------- rendering


def test_render_bounds_long_text_and_survives_missing_keys() -> None:
    huge: dict[str, object] = {
        "heading": ["H"],
        "kind": "added",
        "ops": [[1, "word " * 5000]],
    }
    message = render([_change(clauses=[huge] * 50)], "email")
    assert message.body_format == "html"
    assert len(message.body) < 100_000
    assert "… and 30 more changed clauses." in (message.text_alternative or "")
    assert "watcher diff 42" in message.body

    bare = AlertEvent(
        "x", "change", "alert", "mj", None, (), "", {"clauses": "nonsense"}
    )
    for kind in ("email", "slack", "text"):
        m = render([bare], kind)
        assert m.title.startswith("[policy-watcher] mj")
        assert "watcher changes" in m.body

    failing = AlertEvent(
        "failing:mj/terms",
        "failing",
        "alert",
        "mj",
        "mj/terms",
        (),
        "Midjourney Terms: 3 checks failed in a row (server)",
        {"platform_name": "Midjourney", "failures": 3, "error": "server: HTTP 503"},
    )
    text = render([failing], "text")
    assert "3 checks in a row failed. Last error: server: HTTP 503" in text.body
    assert "watcher status" in text.body
    assert text.level == "failure"


def test_slack_digest_of_many_events_stays_within_the_limit() -> None:
    events = [_change(n, subject=f"Change number {n} & <more>") for n in range(1, 40)]
    message = render(events, "slack")
    grown = (
        message.body.count("&") * 4
        + (message.body.count("<") + message.body.count(">")) * 3
    )
    assert len(message.body) + grown <= SLACK_TEXT_LIMIT
    assert "more alerts not shown here" in message.body
    assert "Change number 1 " in message.body


# --------------------------------------------------------------------------- notify --test


def test_send_test_reports_per_channel_without_secrets(
    webhook: PostSink, caplog: pytest.LogCaptureFixture
) -> None:
    closed = _free_port()
    channels = [
        Channel("hook", webhook.url()),
        Channel(
            "mail",
            f"mailto://watcher:hunter2secret@127.0.0.1:{closed}?mode=insecure"
            "&from=watcher@example.com&to=policy@example.com",
        ),
        Channel("slack", "slack://T1JJ3T3L2/A1BRTD4JD/"),  # a token is missing
    ]

    results = send_test(channels, AppriseNotifier())

    assert list(results) == ["hook", "mail", "slack"]
    assert results["hook"] is None
    assert webhook.bodies[0]["title"] == "[policy-watcher] Test message for hook"
    assert "If you can read it" in webhook.bodies[0]["message"]
    assert results["mail"] is not None
    assert results["mail"].startswith("mail: ")
    assert (
        results["slack"]
        == "slack: not a usable apprise URL (check its scheme and tokens)"
    )
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("watcher")]
    for text in [*(v or "" for v in results.values()), *ours]:
        assert "hunter2secret" not in text
        assert "T1JJ3T3L2" not in text


# --------------------------------------------------------------------------- the real store


def test_deliver_against_the_real_store(
    tmp_path: Path, smtp: SmtpSink, clock: FixedClock
) -> None:
    store_module = pytest.importorskip("watcher.store")

    def open_store() -> Any:
        return store_module.SnapshotStore(
            f"sqlite:///{tmp_path}/w.db", tmp_path / "snaps"
        )

    mail = Channel("mail", smtp.url())
    down = Channel(
        "hook", f"json://127.0.0.1:{_free_port()}/x", min_severity="cosmetic"
    )
    with contextlib.closing(open_store()) as store:
        store.add_events(
            [_change(1), _change(2, severity="notice", topics=())], clock()
        )

        # the hook is down: retried; mail gets the alert (the notice is below its minimum)
        report = deliver(store, _settings(mail, down), AppriseNotifier(), clock())

        assert report.sent == {"mail": (1,)}
        assert report.retried == {"hook": (1, 2)}
        assert len(smtp.messages) == 1
        pending = {e.id: e for e in store.pending_events()}
        assert set(pending) == {1, 2}
        hook = next(d for d in pending[1].deliveries if d.channel == "hook")
        assert hook.attempts == 1
        assert hook.next_try_at == clock() + timedelta(minutes=1)

    # a restart: the new process sends nothing twice; without the hook both events are done
    clock.advance(minutes=5)
    with contextlib.closing(open_store()) as store:
        report = deliver(store, _settings(mail), AppriseNotifier(), clock())
        assert report.sent == {}
        assert report.done == (1, 2)
        assert len(smtp.messages) == 1
        assert store.pending_events() == []

        # two passes at once against SQLite: one email
        store.add_events([_change(3)], clock())
        _deliver_twice_at_once(store, _settings(mail), clock())
        assert len(smtp.messages) == 2
        assert store.pending_events() == []


def test_digest_weekdays_follow_crontab_numbering() -> None:
    """'1-5' means Monday to Friday, as in crontab (APScheduler 3 alone counts 0 = Monday)."""
    from watcher.notify.deliver import _digest_time

    channel = Channel(
        name="weekday-digest",
        url="json://127.0.0.1:9/hook",
        mode="digest",
        digest_every="0 9 * * 1-5",
        timezone="UTC",
    )
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # a Friday
    assert _digest_time(channel, friday_evening) == datetime(
        2026, 11, 30, 9, 0, tzinfo=UTC
    )
