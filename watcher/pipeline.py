"""One check, end to end: fetch -> extract -> compare -> store -> evaluate facts -> notify.

The only module that imports every stage. ``run_once`` is what ``watcher check`` calls and
``check_documents`` is what the daemon's jobs await; both go through ``_check_platform``:

1. fetch and extract every asked-for document of a platform (in parallel across hosts; the
   shared ``Fetcher`` keeps one request at a time per host);
2. for each new text, diff it against the latest snapshot and classify the change;
3. evaluate every fact of the platform on the texts as they now stand, before anything is
   stored, so a verdict that moves travels with the change that moved it;
4. store each document's snapshot, change and outbox events in one transaction, then the
   verdicts (and an event for each move no change carried);
5. deliver the outbox (unless told not to).

Fetch and extract failures are recorded and never end a run; ``StoreError`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from watcher import alerts, compare, evaluate
from watcher.errors import ExtractError, FetchError
from watcher.extract import extract
from watcher.fetch import Fetcher
from watcher.models import (
    AlertEvent,
    Change,
    ChangeDraft,
    CheckState,
    Config,
    Document,
    Extracted,
    Fact,
    FetchResult,
    Platform,
    StoredVerdict,
    TextDiff,
    UnchangedCheck,
    Validators,
    Verdict,
)
from watcher.notify import (
    AppriseNotifier,
    DeliveryReport,
    LogNotifier,
    Notifier,
    deliver,
)
from watcher.store import SnapshotStore
from watcher.text import TopicMatcher

__all__ = [
    "DocumentOutcome",
    "RunReport",
    "Runtime",
    "check_documents",
    "deliver_pending",
    "open_runtime",
    "reextract",
    "run_once",
    "select_documents",
    "utcnow",
]

logger = logging.getLogger(__name__)

Outcome = Literal["baseline", "changed", "unchanged", "not_modified", "failed"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a check needs, passed in so tests control every part."""

    config: Config
    store: SnapshotStore
    fetcher: Fetcher | None  # None: each check opens (and closes) its own
    notifier: Notifier
    matcher: TopicMatcher
    now: Callable[[], datetime] = utcnow


@dataclass(frozen=True, slots=True)
class DocumentOutcome:
    doc_id: str
    outcome: Outcome
    change: Change | None = None
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    outcomes: tuple[DocumentOutcome, ...]
    moved_facts: tuple[tuple[Verdict, StoredVerdict | None], ...] = ()
    delivery: DeliveryReport | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def of(self, *outcomes: Outcome) -> list[DocumentOutcome]:
        return [o for o in self.outcomes if o.outcome in outcomes]

    @property
    def failed(self) -> list[DocumentOutcome]:
        return self.of("failed")

    @property
    def changed(self) -> list[DocumentOutcome]:
        return self.of("changed")


@dataclass(slots=True)
class _Fetched:
    """One document's fetch-and-extract result, before anything is stored."""

    doc: Document
    fetched: FetchResult | None = None
    extracted: Extracted | None = None
    error: FetchError | ExtractError | None = None
    previous_id: int | None = None  # the latest snapshot before this check
    diff: TextDiff | None = None
    failures_before: int = 0
    moved_facts: list[str] = field(default_factory=list)


@contextmanager
def open_runtime(
    config: Config,
    *,
    db_url: str | None = None,
    notify: bool = True,
    now: Callable[[], datetime] = utcnow,
) -> Iterator[Runtime]:
    """Open the store (migrating it), the fetcher and the notifier; close them after."""
    settings = config.settings
    store = SnapshotStore(
        db_url or settings.storage.url, settings.storage.snapshots_dir
    )
    notifier: Notifier = AppriseNotifier() if notify else LogNotifier()
    try:
        yield Runtime(config, store, None, notifier, TopicMatcher(settings.topics), now)
    finally:
        store.close()


def select_documents(config: Config, targets: Sequence[str] | None) -> list[Document]:
    """Documents named by ``targets`` (``platform`` or ``platform/document``); all when empty.

    Raises KeyError naming the first target that matches nothing.
    """
    if not targets:
        return list(config.documents())
    by_id = {doc.id: doc for doc in config.documents()}
    chosen: dict[str, Document] = {}
    for target in targets:
        if "/" in target:
            if target not in by_id:
                raise KeyError(target)
            chosen[target] = by_id[target]
        else:
            platform = config.platform(target)
            if platform is None:
                raise KeyError(target)
            chosen.update({doc.id: doc for doc in platform.documents})
    return list(chosen.values())


def run_once(
    runtime: Runtime,
    targets: Sequence[str] | None = None,
    *,
    notify: bool = True,
    progress: Callable[[DocumentOutcome], None] | None = None,
) -> RunReport:
    """One cycle over ``targets`` (all documents when empty). The CLI's ``watcher check``."""
    docs = select_documents(runtime.config, targets)
    return asyncio.run(check_documents(runtime, docs, notify=notify, progress=progress))


async def check_documents(
    runtime: Runtime,
    docs: Sequence[Document],
    *,
    notify: bool = True,
    progress: Callable[[DocumentOutcome], None] | None = None,
) -> RunReport:
    """Check ``docs`` now, platform by platform in parallel; then deliver alerts."""
    if runtime.fetcher is None:
        async with Fetcher(runtime.config.settings.fetch) as fetcher:
            return await check_documents(
                replace(runtime, fetcher=fetcher),
                docs,
                notify=notify,
                progress=progress,
            )
    started = runtime.now()
    states = runtime.store.check_states(doc.id for doc in docs)
    by_platform: dict[str, list[Document]] = {}
    for doc in docs:
        by_platform.setdefault(doc.platform, []).append(doc)
    unchanged = _UnchangedChecks(runtime.store)
    try:
        results = await asyncio.gather(
            *(
                _check_platform(
                    runtime,
                    platform,
                    by_platform[platform.id],
                    states,
                    unchanged,
                    progress,
                )
                for platform in runtime.config.platforms
                if platform.id in by_platform
            )
        )
    finally:
        unchanged.flush()
    outcomes = tuple(o for outcome_list, _ in results for o in outcome_list)
    moved = tuple(m for _, moves in results for m in moves)
    delivery = deliver_pending(runtime) if notify else None
    return RunReport(outcomes, moved, delivery, started, runtime.now())


class _UnchangedChecks:
    """Checks that found the stored text again, written to the store in batches.

    Most checks of a cycle find nothing new; one insert per ``_BATCH`` of them instead of a
    transaction each. A crash loses at most the last batch of these attempt rows, which
    hold nothing that is not already stored (the snapshot, the validators it was fetched
    with); snapshots, changes and alerts are never batched.
    """

    _BATCH = 200

    def __init__(self, store: SnapshotStore) -> None:
        self._store = store
        self._checks: list[UnchangedCheck] = []

    def add(self, check: UnchangedCheck) -> None:
        self._checks.append(check)
        if len(self._checks) >= self._BATCH:
            self.flush()

    def flush(self) -> None:
        checks, self._checks = self._checks, []
        self._store.record_unchanged_many(checks)


def deliver_pending(runtime: Runtime) -> DeliveryReport:
    """Send what the outbox holds to the configured channels."""
    return deliver(
        runtime.store, runtime.config.settings.notify, runtime.notifier, runtime.now()
    )


async def _check_platform(
    runtime: Runtime,
    platform: Platform,
    docs: Sequence[Document],
    states: Mapping[str, CheckState],
    unchanged: _UnchangedChecks,
    progress: Callable[[DocumentOutcome], None] | None,
) -> tuple[list[DocumentOutcome], list[tuple[Verdict, StoredVerdict | None]]]:
    """Fetch and extract ``docs`` concurrently, then settle each one.

    A platform without facts settles each document as soon as it is ready, which keeps
    memory to the requests in flight (a thousand pages are never all held at once). A
    platform with facts (a handful of documents) waits for all of them, so a fact that reads
    two documents changed in this cycle is judged once, on both new texts, never on a mix.
    """
    outcomes: list[DocumentOutcome] = []
    moved: list[tuple[Verdict, StoredVerdict | None]] = []
    fetches = [_fetch_and_extract(runtime, d, states[d.id].validators) for d in docs]
    fresh: dict[str, str] = {}
    fetched_ok: dict[str, bool] = {}
    ready: Iterable[Awaitable[_Fetched]]
    if platform.facts:
        items = await asyncio.gather(*fetches)
        fresh = {i.doc.name: i.extracted.text for i in items if i.extracted is not None}
        fetched_ok = {i.doc.name: i.error is None for i in items}
        # documents whose text changed settle first: a verdict they move is carried by
        # their change (and named in its alert) rather than by an unchanged neighbour
        items.sort(key=lambda i: not _text_changed(i, states[i.doc.id]))
        ready = [_done(item) for item in items]
    else:
        ready = asyncio.as_completed(fetches)
    for next_item in ready:
        item = await next_item
        outcome, doc_moved = _settle(
            runtime, platform, item, states[item.doc.id], unchanged, fresh, fetched_ok
        )
        outcomes.append(outcome)
        moved.extend(doc_moved)
        _log_outcome(outcome)
        if progress is not None:
            progress(outcome)
    order = {doc.id: n for n, doc in enumerate(docs)}
    outcomes.sort(key=lambda o: order[o.doc_id])
    return outcomes, moved


async def _done(item: _Fetched) -> _Fetched:
    return item


def _text_changed(item: _Fetched, state: CheckState) -> bool:
    return (
        item.extracted is not None
        and state.latest_sha256 is not None
        and state.latest_sha256 != item.extracted.text_sha256
    )


def _settle(
    runtime: Runtime,
    platform: Platform,
    item: _Fetched,
    state: CheckState,
    unchanged: _UnchangedChecks,
    cycle_texts: Mapping[str, str],
    cycle_ok: Mapping[str, bool],
) -> tuple[DocumentOutcome, list[tuple[Verdict, StoredVerdict | None]]]:
    """Diff, evaluate the facts that read this document, and store: one document's check.

    ``cycle_texts``/``cycle_ok``: the new texts and outcomes of the platform's other
    documents in this cycle, when they are known before settling (see ``_check_platform``).
    """
    store, doc = runtime.store, item.doc
    # the usual case, a success last time, needs no count
    item.failures_before = (
        store.consecutive_failures(doc.id) if state.last_failed else 0
    )
    item.previous_id = state.latest_snapshot
    if _text_changed(item, state):
        assert item.extracted is not None
        assert state.latest_snapshot is not None
        previous = store.snapshot(state.latest_snapshot)
        assert previous is not None
        item.diff = compare.diff_texts(
            previous.text, item.extracted.text, runtime.matcher
        )
    facts = [f for f in platform.facts if doc.name in f.documents()]
    fresh = dict(cycle_texts)
    if item.extracted is not None:
        fresh[doc.name] = item.extracted.text
    verdicts = _evaluate(
        runtime, platform, facts, fresh, {**cycle_ok, doc.name: item.error is None}
    )
    previous_verdicts = store.current_verdicts() if verdicts else {}
    moved_ids = sorted(
        v.fact_id
        for v in verdicts
        if v.fact_id in previous_verdicts
        and previous_verdicts[v.fact_id].verdict.verdict != v.verdict
    )
    if item.diff is not None:
        item.moved_facts = moved_ids  # every one of them reads this document
    outcome = _store_result(
        runtime,
        item,
        state,
        unchanged,
        {v.fact_id: v for v in verdicts},
        previous_verdicts,
    )
    if not verdicts:
        return outcome, []
    by_id = {f.id: f for f in facts}
    moved = store.record_verdicts(
        _snapshot_ids(runtime, platform, verdicts),
        runtime.now(),
        events=lambda verdict, before: (
            []
            if verdict.fact_id in item.moved_facts
            else [
                alerts.fact_event(
                    platform, by_id[verdict.fact_id], verdict, before, runtime.now()
                )
            ]
        ),
    )
    return outcome, moved


async def _fetch_and_extract(
    runtime: Runtime, doc: Document, validators: Validators
) -> _Fetched:
    item = _Fetched(doc)
    assert runtime.fetcher is not None
    try:
        item.fetched = await runtime.fetcher.fetch(doc, validators)
        if not item.fetched.not_modified:
            item.extracted = extract(doc, item.fetched)
    except (FetchError, ExtractError) as exc:
        item.error = exc
    return item


def _evaluate(
    runtime: Runtime,
    platform: Platform,
    facts: Sequence[Fact],
    fresh_texts: Mapping[str, str],
    fetched_ok: Mapping[str, bool],
) -> list[Verdict]:
    """``facts`` of ``platform`` on the texts as they stand after this check."""
    if not facts:
        return []
    names = {name for fact in facts for name in fact.documents()}
    texts = _document_texts(runtime, platform, fresh_texts, fetched_ok, names=names)
    return [
        evaluate.evaluate(
            fact,
            {name: texts.get(name) for name in fact.documents()},
            runtime.matcher,
            baseline_quote=runtime.store.fact_baseline(fact.id),
        )
        for fact in facts
    ]


def _document_texts(
    runtime: Runtime,
    platform: Platform,
    fresh_texts: Mapping[str, str] | None = None,
    fetched_ok: Mapping[str, bool] | None = None,
    *,
    names: Collection[str] | None = None,
) -> dict[str, str | None]:
    """Usable text per document name: the fresh one, else the latest snapshot's.

    ``fetched_ok`` says, for the documents checked in this run, whether the check succeeded;
    ``names`` limits the documents read.
    A document that has failed ``alert_after_failures`` checks in a row (this one included)
    has no usable text: its facts become ``unknown`` rather than resting on stale words.
    """
    fresh_texts = fresh_texts or {}
    fetched_ok = fetched_ok or {}
    threshold = runtime.config.settings.notify.alert_after_failures
    texts: dict[str, str | None] = {}
    for doc in platform.documents:
        if names is not None and doc.name not in names:
            continue
        if doc.name in fresh_texts:
            texts[doc.name] = fresh_texts[doc.name]
            continue
        latest = runtime.store.latest(doc.id)
        if doc.name not in fetched_ok:
            failures = runtime.store.consecutive_failures(doc.id)
        else:
            failures = (
                0
                if fetched_ok[doc.name]
                else runtime.store.consecutive_failures(doc.id) + 1
            )
        texts[doc.name] = (
            latest.text if latest is not None and failures < threshold else None
        )
    return texts


def _snapshot_ids(
    runtime: Runtime, platform: Platform, verdicts: Sequence[Verdict]
) -> list[tuple[Verdict, tuple[int, ...]]]:
    """Each verdict with the ids of the snapshots it read (as stored after this check)."""
    latest = {
        doc.name: meta[0]
        for doc in platform.documents
        if (meta := runtime.store.latest_meta(doc.id)) is not None
    }
    facts = {f.id: f for f in platform.facts}
    return [
        (v, tuple(latest[n] for n in facts[v.fact_id].documents() if n in latest))
        for v in verdicts
    ]


def _store_result(
    runtime: Runtime,
    item: _Fetched,
    state: CheckState,
    unchanged: _UnchangedChecks,
    verdicts: Mapping[str, Verdict],
    previous_verdicts: Mapping[str, StoredVerdict],
) -> DocumentOutcome:
    store, doc, now = runtime.store, item.doc, runtime.now()
    if item.error is not None:
        kind = item.error.kind if isinstance(item.error, FetchError) else "extract"
        transient = isinstance(item.error, FetchError) and item.error.transient
        store.record_failure(
            doc.id, now, error_kind=kind, transient=transient, message=str(item.error)
        )
        _queue_failing(runtime, doc, item.failures_before + 1, kind, str(item.error))
        return DocumentOutcome(doc.id, "failed", error_kind=kind, error=str(item.error))
    assert item.fetched is not None
    _queue_recovered(runtime, doc, item.failures_before)
    if item.extracted is None or item.extracted.text_sha256 == state.latest_sha256:
        not_modified = item.extracted is None
        unchanged.add(
            UnchangedCheck(
                doc.id,
                now,
                item.fetched.validators,
                state.latest_snapshot,
                not_modified,
            )
        )
        return DocumentOutcome(doc.id, "not_modified" if not_modified else "unchanged")
    draft = None
    if item.diff is not None:
        severity = "alert" if item.moved_facts else item.diff.severity
        draft = ChangeDraft(
            severity, item.diff.topics, compare.summarize(doc, item.diff)
        )

    def events(change: Change) -> list[AlertEvent]:
        if change.severity != "alert" or item.diff is None:
            return []
        moved = [
            (fid, verdicts[fid], previous_verdicts.get(fid)) for fid in item.moved_facts
        ]
        platform = runtime.config.platform(doc.platform)
        facts = {f.id: f for f in platform.facts} if platform else {}
        return [
            alerts.change_event(
                doc,
                change,
                item.diff,
                [(facts[fid], v, before) for fid, v, before in moved if fid in facts],
            )
        ]

    snapshot, change = store.save(
        doc.id,
        fetched=item.fetched,
        extracted=item.extracted,
        change=draft,
        events=events,
    )
    if change is not None and item.moved_facts:
        change = store.attach_facts(change.id, item.moved_facts)
    if item.previous_id is None:
        return DocumentOutcome(doc.id, "baseline")
    if snapshot.id == item.previous_id:
        return DocumentOutcome(doc.id, "unchanged")
    return DocumentOutcome(doc.id, "changed", change=change)


def _log_outcome(outcome: DocumentOutcome) -> None:
    if outcome.outcome == "failed":
        logger.warning("%s: check failed: %s", outcome.doc_id, outcome.error)
    elif outcome.change is not None:
        logger.info(
            "%s: %s change %d: %s",
            outcome.doc_id,
            outcome.change.severity,
            outcome.change.id,
            outcome.change.summary,
        )
    else:
        logger.info("%s: %s", outcome.doc_id, outcome.outcome)


def _queue_failing(
    runtime: Runtime, doc: Document, failures: int, kind: str, error: str
) -> None:
    """Once a streak reaches ``alert_after_failures``, queue one "failing" alert for it.

    Keyed by the streak's first failure, so a crash before the event was queued is made good
    on the next failed check, and a repeat is ignored by the outbox.
    """
    if failures < runtime.config.settings.notify.alert_after_failures:
        return
    event = alerts.failing_event(
        doc, failures, kind, error, _streak_start(runtime, doc, failures)
    )
    runtime.store.add_events([event], runtime.now())


def _queue_recovered(runtime: Runtime, doc: Document, failures_before: int) -> None:
    if failures_before < runtime.config.settings.notify.alert_after_failures:
        return
    event = alerts.recovered_event(
        doc, failures_before, _streak_start(runtime, doc, failures_before)
    )
    runtime.store.add_events([event], runtime.now())


def _streak_start(runtime: Runtime, doc: Document, failures: int) -> datetime:
    """When the current run of ``failures`` failed checks began (the alerts' key)."""
    streak = runtime.store.attempts(doc.id, limit=failures)
    return streak[-1].at if streak else runtime.now()


# --------------------------------------------------------------------------- reextract


def reextract(runtime: Runtime, doc: Document) -> Change | None:
    """Rebuild ``doc``'s text from its latest stored raw body with the current rules.

    A difference is stored as a technical change, never alerted. Raises ExtractError.
    """
    latest = runtime.store.latest(doc.id)
    if latest is None:
        return None
    fetched = runtime.store.fetch_result(latest.id)
    extracted = extract(doc, fetched)
    if extracted.text_sha256 == latest.text_sha256:
        return None
    diff = compare.diff_texts(latest.text, extracted.text, runtime.matcher)
    draft = ChangeDraft(
        "cosmetic", diff.topics, compare.summarize(doc, diff), technical=True
    )
    _, change = runtime.store.save_technical(
        doc.id, source=latest, extracted=extracted, change=draft, at=runtime.now()
    )
    return change
