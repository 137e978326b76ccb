"""The contract of ``AlertEvent.payload``, and readers that survive a payload missing keys.

The pipeline fills ``AlertEvent.payload`` with an ``AlertPayload`` (a JSON-serialisable dict; it
is stored as JSON in the outbox); ``render`` reads it back with the readers below, which return
an empty value for a missing or mistyped key instead of raising. Every text they return is
``clean``: one line, no terminal escapes or control characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict
from urllib.parse import quote, urlsplit

from watcher.notify._markup import clean

__all__ = [
    "AlertPayload",
    "ClausePayload",
    "FactPayload",
    "int_field",
    "link_url",
    "records",
    "text_field",
]


class ClausePayload(TypedDict, total=False):
    """One changed clause, as ``compare.ClauseDiff`` in JSON form."""

    heading: list[str]  # heading path, outermost first
    kind: str  # "added" | "removed" | "changed"
    ops: list[list[int | str]]  # [[op, text], ...]: -1 removed, 0 kept, 1 added
    topics: list[str]


class FactPayload(TypedDict, total=False):
    """A fact whose verdict moved."""

    id: str  # "midjourney.stealth-pro-mega-only"
    claim: str
    before: str | None  # previous verdict; None when never checked
    after: str  # holds | changed | broken | unknown
    reason: str  # why, one line


class AlertPayload(TypedDict, total=False):
    """What the pipeline puts in ``AlertEvent.payload``. Every key is optional.

    change events: platform_name, document_title, doc_url, change_id, summary, clauses, facts.
    fact events: platform_name, document_title, doc_url, summary, facts.
    failing/recovered events: platform_name, document_title, doc_url, failures, error.
    """

    platform_name: str  # "Midjourney"
    document_title: str | None  # "Midjourney Terms Of Service"
    doc_url: str | None  # the watched page
    change_id: int  # for `watcher diff N`
    summary: str  # one line: what changed
    clauses: list[ClausePayload]
    facts: list[FactPayload]
    failures: (
        int  # consecutive failed checks (failing) or the run that ended (recovered)
    )
    error: str  # the last error (failing)


def text_field(value: object) -> str:
    if value is None or isinstance(value, list | dict):
        return ""
    return clean(str(value)).strip()


def int_field(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def records(value: object) -> list[Mapping[str, object]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def link_url(value: object) -> str:
    """An http(s) address made safe to put in a link, or ""."""
    if not isinstance(value, str):
        return ""
    raw = value.strip()
    try:
        parts = urlsplit(raw)
    except ValueError:
        return ""
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or len(raw) > 2000
    ):
        return ""
    return quote(raw, safe=":/?#[]@!$&'()*+,;=%~-._")
