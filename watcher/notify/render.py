"""Turn alert events into messages a person can act on. Pure: no I/O, no clock.

``render(events, channel_kind)`` builds one ``Message``: one event gives its own message, several
(a digest) give one message listing all of them. ``render_test(channel, channel_kind)`` builds
the message of ``watcher notify --test``. Both raise ``ValueError`` only for an empty event list
(a programmer error); a payload with missing or mistyped keys renders with what it has.

Formats, chosen by the channel kind:

- ``email``: HTML (``body_format="html"``) with the removed words struck through in red and the
  added words in green, and ``text_alternative``, the same content as plain text. apprise 2.3's
  email plugin builds the ``multipart/alternative`` itself: its text/plain part is apprise's own
  HTML-to-text conversion of the HTML body (``NotifyEmail.prepare_emails``), and it takes no
  separate plain text. So the HTML here is made of the tags that conversion understands (p, br,
  h3, ul/li, hr, a whose text is its address), and the diff markers ``[-removed-]`` and
  ``{+added+}`` are written inside the coloured elements too: the plain part that arrives reads
  as ``text_alternative`` does, and the HTML does not rely on colour alone.
- ``slack``: CommonMark (``body_format="markdown"``), which apprise's Slack plugin translates to
  mrkdwn (``**b**`` -> ``*b*``, ``\\<`` -> ``&lt;``, ``&`` -> ``&amp;``). Removed words are
  ``~struck~``, added words bold. Slack's limits are kept here because apprise only cuts at
  35,000 characters: the body is at most ``SLACK_TEXT_LIMIT`` and the title ``SLACK_TITLE_LIMIT``
  characters *after* that translation (measured with an upper bound of its growth); what does
  not fit is dropped with a pointer to ``watcher diff N``.
- ``text``: plain text for every other apprise service; apprise escapes it for the service.

Page text is untrusted: it is escaped for each format (HTML entities; CommonMark backslash
escapes, so no ``<!channel>`` or link can be smuggled into Slack), terminal escape sequences are
removed, other control and bidi-override characters are shown as U+FFFD, and whitespace runs
(newlines included) become one space. Links are made only of http(s) addresses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from watcher.models import AlertEvent, Channel
from watcher.notify._markup import (
    RENDERERS,
    Block,
    BodyFormat,
    Section,
    Span,
    clean,
    cut,
    cut_cost,
    diff_spans,
    fit,
    para,
    render_text,
    shown,
    spans,
)
from watcher.notify.payload import (
    AlertPayload,
    ClausePayload,
    FactPayload,
    int_field,
    link_url,
    records,
    text_field,
)

__all__ = [
    "SLACK_TEXT_LIMIT",
    "SLACK_TITLE_LIMIT",
    "TITLE_PREFIX",
    "AlertPayload",
    "BodyFormat",
    "ChannelKind",
    "ClausePayload",
    "FactPayload",
    "Level",
    "Message",
    "render",
    "render_test",
]

ChannelKind = Literal["email", "slack", "text"]
Level = Literal["info", "success", "warning", "failure"]

TITLE_PREFIX = "[policy-watcher]"
# Slack rejects a section block's text above 3,000 characters (apprise sends blocks with
# ?blocks=yes) and advises under 4,000 for a message's text; the tighter one holds for both.
SLACK_TEXT_LIMIT = 3000
# A Slack header block's plain_text (the title with ?blocks=yes) is at most 150 characters.
SLACK_TITLE_LIMIT = 150


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message. ``level`` picks apprise's notify type (Slack colour, icons)."""

    title: str
    body: str
    body_format: BodyFormat
    text_alternative: str | None = None  # plain-text twin of an HTML body
    level: Level = "info"


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class _Limits:
    body: int  # cost (_markup.cost) of the whole body
    title: int  # cost of the title
    clause: int  # visible characters of one clause's diff line
    clauses: int  # clauses shown per event
    facts: int  # facts shown per event
    field: int  # visible characters of one free-text field (summary, claim, error, heading)


# Email has room; the caps keep one runaway page from producing a megabyte of mail. Text goes to
# services (webhooks, chat) whose own limits apprise applies; 8,000 keeps it readable. Slack's
# caps leave the first clauses room inside SLACK_TEXT_LIMIT even when every character is escaped.
_LIMITS: dict[ChannelKind, _Limits] = {
    "email": _Limits(
        body=500_000, title=200, clause=1000, clauses=20, facts=20, field=500
    ),
    "text": _Limits(body=8000, title=200, clause=600, clauses=10, facts=10, field=300),
    "slack": _Limits(
        body=SLACK_TEXT_LIMIT,
        title=SLACK_TITLE_LIMIT,
        clause=300,
        clauses=5,
        facts=5,
        field=150,
    ),
}
_FORMATS: dict[ChannelKind, BodyFormat] = {
    "email": "html",
    "slack": "markdown",
    "text": "text",
}

# --------------------------------------------------------------------------- public


def render(events: Sequence[AlertEvent], channel_kind: ChannelKind) -> Message:
    """One message for ``events``: the event's own for one, a digest for several.

    Raises ValueError when ``events`` is empty.
    """
    if not events:
        raise ValueError("render() needs at least one event")
    limits = _LIMITS[channel_kind]
    fmt = _FORMATS[channel_kind]
    if len(events) == 1:
        event = events[0]
        section = _event_section(event, limits)
        title = f"{TITLE_PREFIX} {_subject(event)}"
        blocks = fit([], [section], fmt, limits.body)
    else:
        sections = [_event_section(e, limits, digest=True) for e in events]
        title = f"{TITLE_PREFIX} Digest: {len(events)} alerts — {_platforms(events)}"
        intro = [para(spans(f"{len(events)} alerts to review, oldest first."))]
        blocks = fit(intro, sections, fmt, limits.body)
    return _message(title, blocks, channel_kind, _level(events))


def render_test(channel: Channel, channel_kind: ChannelKind) -> Message:
    """The message ``watcher notify --test`` sends to ``channel``."""
    scope = [
        f"topics: {', '.join(channel.topics) if channel.topics else 'all'}",
        f"platforms: {', '.join(channel.platforms) if channel.platforms else 'all'}",
        f"minimum severity: {channel.min_severity}",
        f"mode: {channel.mode}"
        + (
            f" ({channel.digest_every}, {channel.timezone})"
            if channel.digest_every
            else ""
        ),
    ]
    blocks = [
        para(
            spans(
                "This is a test message from policy-watcher for the channel ",
                Span(clean(channel.name), "strong"),
                ". If you can read it, alerts can reach you here.",
            )
        ),
        Block("heading", (spans("This channel receives"),)),
        *(Block("item", (spans(s),)) for s in scope),
        para(
            spans(
                "Example diff: ",
                *diff_spans([[-1, "old words"], [1, "new words"]], 100),
            )
        ),
    ]
    title = f"{TITLE_PREFIX} Test message for {clean(channel.name)}"
    return _message(title, blocks, channel_kind, "info")


# --------------------------------------------------------------------------- content


def _event_section(
    event: AlertEvent, limits: _Limits, *, digest: bool = False
) -> Section:
    p = event.payload
    section = Section()
    if digest:
        section.head.append(Block("heading", (spans(cut(_subject(event), 200)),)))
    platform = cut(text_field(p.get("platform_name")) or event.platform, 100)
    document = cut(text_field(p.get("document_title")), 150)
    where = [Span(platform, "strong")]
    if document:
        where.append(Span(f" · {document}"))
    if event.doc_id:
        where += [Span(" ("), Span(clean(event.doc_id), "code"), Span(")")]
    topics = (
        f" · Topics: {', '.join(clean(t) for t in event.topics)}"
        if event.topics
        else ""
    )
    facts = records(p.get("facts"))
    clauses = records(p.get("clauses"))
    change_id = int_field(p.get("change_id"))
    summary = cut(text_field(p.get("summary")), limits.field)
    lines = [tuple(where), spans(f"Severity: {event.severity}{topics}")]
    if event.kind == "failing":
        failures = int_field(p.get("failures"))
        count = (
            f"{failures} checks in a row failed" if failures else "Checks are failing"
        )
        lines.append(
            spans(
                f"{count}. Last error: {cut(text_field(p.get('error')), limits.field) or 'unknown'}"
            )
        )
        lines.append(
            spans(
                "Facts that read this document stay unknown until it is fetched again."
            )
        )
    elif event.kind == "recovered":
        failures = int_field(p.get("failures"))
        after = f" after {failures} failed checks" if failures else ""
        lines.append(spans(f"Fetched successfully again{after}."))
    elif summary and not (event.kind == "fact" and facts):
        lines.append(spans(summary))
    section.head.append(para(*lines))

    if facts:
        heading = "Fact verdict" if event.kind == "fact" else "Facts affected"
        listed = facts[: limits.facts]
        section.groups.append(
            [
                Block("heading", (spans(heading),)),
                *(_fact_block(f, limits) for f in listed[:1]),
            ]
        )
        section.groups += [[_fact_block(f, limits)] for f in listed[1:]]
        if len(facts) > len(listed):
            section.groups.append(
                [para(spans(f"… and {len(facts) - len(listed)} more facts."))]
            )
    if clauses:
        listed = clauses[: limits.clauses]
        heading_block = Block("heading", (spans(f"Changed clauses ({len(clauses)})"),))
        section.groups.append([heading_block, _clause_block(listed[0], limits)])
        section.groups += [[_clause_block(c, limits)] for c in listed[1:]]
        if len(clauses) > len(listed):
            section.groups.append(
                [
                    para(
                        spans(
                            f"… and {len(clauses) - len(listed)} more changed clauses."
                        )
                    )
                ]
            )

    if change_id is not None:
        section.more = f"watcher diff {change_id}"
        label = "See the whole change: "
    elif event.kind == "fact":
        section.more = f"watcher facts --platform {clean(event.platform)}"
        label = "See the evidence: "
    elif event.kind in ("failing", "recovered"):
        section.more = "watcher status"
        label = "See every document's state: "
    else:
        label = "See the changes: "
    tail = [spans(label, Span(section.more, "code"))]
    url = link_url(p.get("doc_url"))
    if url:
        tail.append(spans("Page: ", Span(url, "link")))
    section.tail.append(para(*tail))
    return section


def _fact_block(fact: Mapping[str, object], limits: _Limits) -> Block:
    before = text_field(fact.get("before")) or "unchecked"
    after = text_field(fact.get("after")) or "unknown"
    lines = [
        spans(
            Span(cut(text_field(fact.get("id")) or "?", 120), "code"),
            ": ",
            Span(f"{cut(before, 20)} → {cut(after, 20)}", "strong"),
        ),
        spans(cut(text_field(fact.get("claim")), limits.field)),
    ]
    reason = cut(text_field(fact.get("reason")), limits.field)
    if reason:
        lines.append(spans(f"Why: {reason}"))
    return Block("item", tuple(line for line in lines if shown(line)))


def _clause_block(clause: Mapping[str, object], limits: _Limits) -> Block:
    heading = clause.get("heading")
    parts = [clean(str(h)) for h in heading] if isinstance(heading, list) else []
    path = (
        cut(" > ".join(h for h in parts if h), limits.field) or "(top of the document)"
    )
    kind = cut(text_field(clause.get("kind")), 20) or "changed"
    topics = clause.get("topics")
    tags = ", ".join(clean(str(t)) for t in topics) if isinstance(topics, list) else ""
    note = f" ({kind}{'; ' + cut(tags, 100) if tags else ''})"
    ops = clause.get("ops")
    diff = diff_spans(ops if isinstance(ops, list) else [], limits.clause)
    return para(spans(Span(path, "strong"), note), diff)


def _subject(event: AlertEvent) -> str:
    subject = clean(event.subject).strip()
    if subject:
        return subject
    p = event.payload
    name = text_field(p.get("platform_name")) or event.platform
    document = text_field(p.get("document_title")) or event.doc_id or ""
    what = text_field(p.get("summary")) or f"{event.kind} ({event.severity})"
    return f"{name} {document}: {what}".replace("  ", " ")


def _platforms(events: Sequence[AlertEvent]) -> str:
    counts: dict[str, int] = {}
    for e in events:
        name = text_field(e.payload.get("platform_name")) or e.platform
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} ({c})" if c > 1 else n for n, c in counts.items())


_LEVELS: tuple[Level, ...] = ("info", "success", "warning", "failure")


def _level(events: Sequence[AlertEvent]) -> Level:
    def one(e: AlertEvent) -> Level:
        if e.kind == "failing":
            return "failure"
        if e.kind == "recovered":
            return "success"
        facts = records(e.payload.get("facts"))
        if any(f.get("after") == "broken" for f in facts):
            return "failure"
        return "warning" if e.severity == "alert" else "info"

    return max((one(e) for e in events), key=_LEVELS.index)


def _message(
    title: str, blocks: Sequence[Block], kind: ChannelKind, level: Level
) -> Message:
    limits = _LIMITS[kind]
    fmt = _FORMATS[kind]
    body = cut_cost(RENDERERS[fmt](blocks), limits.body, fmt)
    title = cut_cost(clean(title).strip(), limits.title, fmt)
    text = render_text(blocks) if fmt == "html" else None
    return Message(title, body, fmt, text, level)
