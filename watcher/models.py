"""Frozen records handed between the stages.

Config objects (Settings, Platform, Document, Fact) come out of ``config.load_config``; fetch
returns ``FetchResult``; extract returns ``Extracted``; store hands back ``Snapshot``,
``Change`` and ``OutboxItem``; compare returns ``TextDiff`` and ``Verdict``. Nothing here does
I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

__all__ = [
    "SEVERITIES",
    "VERDICTS",
    "AlertEvent",
    "Attempt",
    "AttemptOutcome",
    "Block",
    "Change",
    "ChangeDraft",
    "Channel",
    "CheckState",
    "Clause",
    "ClauseDiff",
    "Config",
    "Delivery",
    "Document",
    "DocumentFormat",
    "Evidence",
    "EvidencePattern",
    "Extracted",
    "Fact",
    "FetchResult",
    "FetchSettings",
    "NotifySettings",
    "OutboxEvent",
    "Platform",
    "Quote",
    "ScheduleSettings",
    "Settings",
    "Severity",
    "Snapshot",
    "StorageSettings",
    "StoredVerdict",
    "TextDiff",
    "Validators",
    "Verdict",
    "VerdictName",
    "severity_rank",
]

Severity = Literal["cosmetic", "notice", "alert"]
SEVERITIES: tuple[Severity, ...] = ("cosmetic", "notice", "alert")
VerdictName = Literal["holds", "changed", "broken", "unknown"]
VERDICTS: tuple[VerdictName, ...] = ("holds", "changed", "broken", "unknown")
DocumentFormat = Literal["html", "json", "markdown", "text"]


def severity_rank(severity: str) -> int:
    """cosmetic < notice < alert, for ``min_severity`` filters."""
    return SEVERITIES.index(severity)


# --------------------------------------------------------------------------- config

_TYPE_TITLES = {
    "terms_of_service": "Terms of Service",
    "privacy_policy": "Privacy Policy",
    "pricing": "Pricing",
    "help_article": "Help",
    "community_guidelines": "Community Guidelines",
}


@dataclass(frozen=True, slots=True)
class Document:
    """One watched page. ``id`` is ``<platform>/<name>``."""

    platform: str
    name: str
    platform_name: str  # the platform's display name, "Midjourney"
    type: str  # terms_of_service | privacy_policy | pricing | help_article | ...
    url: str
    format: DocumentFormat = "html"
    json_field: str | None = None  # dotted path into the JSON body, "article.body"
    select: tuple[str, ...] = ()  # CSS, the first that matches wins; () = whole body
    remove: tuple[str, ...] = ()  # CSS removed inside the selection
    remove_text: tuple[str, ...] = ()  # regexes: lines/clauses matching one are dropped
    min_chars: int = 200
    version_marker: str | None = (
        None  # regex; group 1 (or the match) is the document's date
    )
    every: timedelta | None = None  # overrides schedule.every
    cron: str | None = None  # crontab expression, instead of every
    title: str | None = None  # display title; default "<platform_name> <type title>"

    @property
    def id(self) -> str:
        return f"{self.platform}/{self.name}"

    @property
    def display_name(self) -> str:
        if self.title:
            return self.title
        kind = _TYPE_TITLES.get(self.type) or self.type.replace("_", " ").capitalize()
        return f"{self.platform_name} {kind}"


@dataclass(frozen=True, slots=True)
class EvidencePattern:
    doc: str  # a document name of the fact's own platform ("terms")
    pattern: str  # regex over the normalised, lower-cased text


@dataclass(frozen=True, slots=True)
class Evidence:
    all_of: tuple[EvidencePattern, ...] = ()
    any_of: tuple[EvidencePattern, ...] = ()
    none_of: tuple[EvidencePattern, ...] = ()

    def documents(self) -> tuple[str, ...]:
        """Document names the evidence reads, in first-seen order."""
        seen: dict[str, None] = {}
        for item in (*self.all_of, *self.any_of, *self.none_of):
            seen.setdefault(item.doc, None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Quote:
    doc: str
    text: str


@dataclass(frozen=True, slots=True)
class Fact:
    """A curated claim checked against the vendor's current text. ``id`` is ``<platform>.<name>``."""

    platform: str
    name: str
    topic: str
    claim: str
    evidence: Evidence
    plans: tuple[str, ...] = ()
    guide_claim: str | None = None
    quote: Quote | None = None
    verified: date | None = None
    notes: str | None = None
    # how the vendor's text compares with the published guide's claim
    verdict_vs_guide: (
        Literal["confirms", "partially_confirms", "contradicts", "unverified"] | None
    ) = None

    @property
    def id(self) -> str:
        return f"{self.platform}.{self.name}"

    def documents(self) -> tuple[str, ...]:
        names = list(self.evidence.documents())
        if self.quote is not None and self.quote.doc not in names:
            names.append(self.quote.doc)
        return tuple(names)


@dataclass(frozen=True, slots=True)
class Platform:
    id: str  # file stem, "midjourney"
    name: str  # "Midjourney"
    documents: tuple[Document, ...]
    facts: tuple[Fact, ...] = ()
    source: Path | None = None  # the YAML file it came from


@dataclass(frozen=True, slots=True)
class StorageSettings:
    url: str = "sqlite:///snapshots/watcher.db"
    snapshots_dir: Path = Path("snapshots")


@dataclass(frozen=True, slots=True)
class FetchSettings:
    timeout: float = 30.0  # seconds, per request
    max_bytes: int = 5_000_000  # cap on the (decompressed) body
    concurrency: int = 8  # hosts fetched at once
    per_host_interval: float = 2.0  # seconds between two requests to one host
    user_agent: str = (
        "policy-watcher/0.1 (+https://github.com/policy-watcher/policy-watcher)"
    )
    max_redirects: int = 5
    retries: int = 3  # extra attempts on transient failures
    retry_max_wait: float = 60.0  # cap on one backoff or Retry-After wait, seconds


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    every: timedelta = timedelta(hours=6)
    jitter: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Channel:
    """A notification channel. ``url`` is an apprise URL and a secret: never log or print it."""

    name: str
    url: str = field(repr=False)
    topics: tuple[str, ...] | None = None  # None = every topic
    platforms: tuple[str, ...] | None = None  # None = every platform
    min_severity: Severity = "alert"
    mode: Literal["immediate", "digest"] = "immediate"
    digest_every: str | None = None  # crontab expression, e.g. "0 9 * * *"
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class NotifySettings:
    channels: tuple[Channel, ...] = ()
    alert_after_failures: int = (
        3  # consecutive failed checks before "unreachable" is alerted
    )
    give_up_after: timedelta = timedelta(
        days=3
    )  # an undelivered alert older than this is failed


@dataclass(frozen=True, slots=True)
class Settings:
    storage: StorageSettings = field(default_factory=StorageSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    topics: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # merged with the defaults
    notify: NotifySettings = field(default_factory=NotifySettings)


@dataclass(frozen=True, slots=True)
class Config:
    settings: Settings
    platforms: tuple[Platform, ...]
    directory: Path

    def documents(self) -> tuple[Document, ...]:
        return tuple(doc for platform in self.platforms for doc in platform.documents)

    def facts(self) -> tuple[Fact, ...]:
        return tuple(fact for platform in self.platforms for fact in platform.facts)

    def platform(self, platform_id: str) -> Platform | None:
        return next((p for p in self.platforms if p.id == platform_id), None)

    def document(self, doc_id: str) -> Document | None:
        return next((d for d in self.documents() if d.id == doc_id), None)


# --------------------------------------------------------------------------- fetch


@dataclass(frozen=True, slots=True)
class Validators:
    """What a conditional GET sends back: the last ETag and Last-Modified of a document."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int  # 200, or 304 when not_modified
    body: bytes  # raw bytes as received (decompressed); b"" when not_modified
    text: str  # body decoded to str (header charset, then meta, then detection); "" when not_modified
    content_type: str | None
    encoding: str | None
    validators: Validators
    fetched_at: datetime
    not_modified: bool = False
    elapsed: float = 0.0  # seconds, including retries


# --------------------------------------------------------------------------- extract


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph, list item or table row of normalised text, with its heading path."""

    heading: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Clause:
    """A sentence or short paragraph: the unit that is diffed, tagged and matched."""

    heading: tuple[str, ...]
    text: str
    topics: tuple[str, ...] = ()
    block: int = 0  # index of the Block it came from


@dataclass(frozen=True, slots=True)
class Extracted:
    blocks: tuple[Block, ...]
    text: str  # text.render_blocks(blocks): what is stored and hashed
    text_sha256: str
    version_date: str | None = None  # from the document's version_marker


# --------------------------------------------------------------------------- store


AttemptOutcome = Literal["baseline", "changed", "unchanged", "not_modified", "failed"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: int
    doc_id: str
    fetched_at: datetime
    text: str
    text_sha256: str
    body_sha256: str | None
    version_date: str | None
    technical: bool = False  # produced by reextract, not by a fetch


@dataclass(frozen=True, slots=True)
class CheckState:
    """Where a document stood before a check: what the pipeline needs to begin one."""

    validators: Validators = field(default_factory=Validators)
    last_failed: bool = False  # the newest attempt failed (a streak may be running)
    latest_snapshot: int | None = None
    latest_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class UnchangedCheck:
    """A check that found the stored text again, for ``SnapshotStore.record_unchanged_many``."""

    doc_id: str
    at: datetime
    validators: Validators
    snapshot_id: int | None  # the snapshot whose text it found
    not_modified: bool  # a 304, rather than a body with the same text


@dataclass(frozen=True, slots=True)
class Attempt:
    doc_id: str
    at: datetime
    outcome: AttemptOutcome
    error_kind: str | None = None  # FetchErrorKind, or "extract"
    transient: bool = False
    message: str | None = None
    snapshot_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeDraft:
    """A change about to be stored with its new snapshot."""

    severity: Severity
    topics: tuple[str, ...]
    summary: str
    technical: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    doc_id: str
    from_snapshot: int
    to_snapshot: int
    detected_at: datetime
    severity: Severity
    topics: tuple[str, ...]
    summary: str
    technical: bool = False
    facts: tuple[str, ...] = ()  # ids of facts whose verdict moved with this change
    review: Literal["accepted", "dismissed"] | None = None
    reviewed_at: datetime | None = None
    note: str | None = None

    @property
    def platform(self) -> str:
        return self.doc_id.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something people must hear about, queued in the outbox in the same transaction."""

    key: str  # unique per event: "change:42", "fact:midjourney.x:17", "doc-failing:mj/terms:..."
    kind: Literal["change", "fact", "failing", "recovered"]
    severity: Severity
    platform: str
    doc_id: str | None
    topics: tuple[str, ...]
    subject: str
    payload: dict[str, object]  # JSON-serialisable details for rendering


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An AlertEvent as stored in the outbox, with its per-channel deliveries."""

    id: int
    event: AlertEvent
    created_at: datetime
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """The state of one (event, channel) pair."""

    event_id: int
    channel: str
    attempts: int = 0
    claimed_at: datetime | None = None  # a sender took it; cleared when the try ends
    next_try_at: datetime | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None  # gave up: older than give_up_after
    last_error: str | None = None


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True, slots=True)
class ClauseDiff:
    """One changed clause. ``ops`` is a word-level diff: (-1 removed | 0 kept | 1 added, text)."""

    kind: Literal["added", "removed", "changed"]
    heading: tuple[str, ...]
    old: str | None
    new: str | None
    topics: tuple[str, ...]
    ops: tuple[tuple[int, str], ...]
    cosmetic: bool = False  # differs only by typography, numbering, dates, links


@dataclass(frozen=True, slots=True)
class TextDiff:
    clauses: tuple[ClauseDiff, ...]
    severity: Severity
    topics: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class Verdict:
    fact_id: str
    verdict: VerdictName
    reasons: tuple[str, ...]  # which pattern failed or hit, what is missing
    evidence: str | None = (
        None  # the current clause that best supports (or now contradicts) it
    )
    evidence_heading: tuple[str, ...] = ()
    evidence_doc: str | None = None  # document name
    closeness: float | None = None  # 0..1, quote vs closest current clause
    quote_diff: tuple[tuple[int, str], ...] = ()  # word diff quote -> closest clause


@dataclass(frozen=True, slots=True)
class StoredVerdict:
    verdict: Verdict
    checked_at: datetime
    since: datetime  # when this verdict value was first reached
    snapshot_ids: tuple[int, ...]
