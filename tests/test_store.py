"""The store, run against SQLite and PostgreSQL alike.

PostgreSQL comes from ``WATCHER_TEST_PG_URL`` (default: the local socket, database
``watcher_test``); each test gets a schema of its own, dropped afterwards. When the server
cannot be reached those cases are skipped, saying so.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from tests.conftest import FixedClock
from watcher.errors import StoreError
from watcher.models import (
    AlertEvent,
    Change,
    ChangeDraft,
    CheckState,
    Extracted,
    FetchResult,
    StoredVerdict,
    UnchangedCheck,
    Validators,
    Verdict,
)
from watcher.store import MIGRATIONS_DIR, SCHEMA_HEAD, SnapshotStore
from watcher.store import _core as store_core

PG_URL = os.environ.get(
    "WATCHER_TEST_PG_URL",
    "postgresql+psycopg:///watcher_test?host=/var/run/postgresql",
)
ROOT = Path(__file__).resolve().parents[1]
DOC = "mj/terms"
NAME = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{12}(-\d+)?\.(raw\.zst|txt|txt\.zst)$")

StoreFactory = Callable[..., SnapshotStore]


# ---------------------------------------------------------------------- fixtures


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        pytest.skip(f"PostgreSQL not reachable at WATCHER_TEST_PG_URL: {reason}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'watcher.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def snapshots_dir(tmp_path: Path) -> Path:
    return tmp_path / "snapshots"


@pytest.fixture
def open_store(db_url: str, snapshots_dir: Path) -> Iterator[StoreFactory]:
    """Opens stores on the test's database (closed at the end)."""
    stores: list[SnapshotStore] = []

    def make(*, migrate: bool = True) -> SnapshotStore:
        store = SnapshotStore(db_url, snapshots_dir, migrate=migrate)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> SnapshotStore:
    return open_store()


# ---------------------------------------------------------------------- helpers


def extracted(text: str, version_date: str | None = None) -> Extracted:
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Extracted((), text, sha, version_date)


def fetched(
    body: bytes | str, at: datetime, validators: Validators | None = None
) -> FetchResult:
    data = body.encode() if isinstance(body, str) else body
    return FetchResult(
        url="https://example.com/terms",
        final_url="https://example.com/terms?x=1",
        status=200,
        body=data,
        text=data.decode("utf-8", "replace"),
        content_type="text/html; charset=utf-8",
        encoding="utf-8",
        validators=validators or Validators(),
        fetched_at=at,
    )


def save(
    store: SnapshotStore,
    text: str,
    at: datetime,
    *,
    doc: str = DOC,
    draft: ChangeDraft | None = None,
    events: Callable[[Change], list[AlertEvent]] | None = None,
    validators: Validators | None = None,
) -> tuple[int, Change | None]:
    snap, change = store.save(
        doc,
        fetched=fetched(f"<html><p>{text}</p></html>", at, validators),
        extracted=extracted(text),
        change=draft,
        events=events,
    )
    return snap.id, change


def files(directory: Path) -> dict[str, int]:
    if not directory.exists():
        return {}
    return {
        p.relative_to(directory).as_posix(): p.stat().st_size
        for p in directory.rglob("*")
        if p.is_file()
    }


def event(key: str, **kw: object) -> AlertEvent:
    fields: dict[str, object] = {
        "kind": "change",
        "severity": "alert",
        "platform": "mj",
        "doc_id": DOC,
        "topics": ("training_use",),
        "subject": f"event {key}",
        "payload": {"key": key, "nested": {"n": [1, 2]}},
    }
    fields.update(kw)
    return AlertEvent(key=key, **fields)  # type: ignore[arg-type]


def change_event(change: Change) -> list[AlertEvent]:
    return [event(f"change:{change.id}", topics=change.topics)]


NOTICE = ChangeDraft("notice", ("pricing",), "plan prices changed")


# ---------------------------------------------------------------------- snapshots


def test_identical_text_records_an_attempt_and_writes_nothing(
    store: SnapshotStore, snapshots_dir: Path, clock: FixedClock
) -> None:
    first, change = save(
        store, "Stealth is Pro only.", clock(), draft=NOTICE, events=change_event
    )
    assert change is None  # a first snapshot is a baseline, never a change
    before = files(snapshots_dir)
    assert sorted(Path(p).name.split(".", 1)[1] for p in before) == ["raw.zst", "txt"]
    assert all(NAME.match(Path(p).name) for p in before)
    assert all(p.startswith("mj/terms/") for p in before)

    again, change = save(
        store, "Stealth is Pro only.", clock.advance(hours=6), draft=NOTICE
    )

    assert (again, change) == (first, None)
    assert files(snapshots_dir) == before
    assert [s.id for s in store.snapshots(DOC)] == [first]
    assert [a.outcome for a in store.attempts(DOC)] == ["unchanged", "baseline"]
    assert store.attempts(DOC)[0].snapshot_id == first
    assert store.changes() == []
    assert store.pending_events() == []


def test_changed_text_links_both_snapshots_in_one_save(
    store: SnapshotStore, open_store: StoreFactory, clock: FixedClock
) -> None:
    old, _ = save(store, "Stealth is Pro only.", clock())
    draft = ChangeDraft("alert", ("private_mode", "pricing"), "stealth for all plans")
    new, change = save(
        store,
        "Stealth is on every plan.",
        clock.advance(hours=6),
        draft=draft,
        events=change_event,
    )

    assert change is not None
    assert (change.from_snapshot, change.to_snapshot) == (old, new)
    assert (change.severity, change.topics, change.summary) == (
        "alert",
        ("private_mode", "pricing"),
        "stealth for all plans",
    )
    assert change.detected_at == clock()
    assert not change.technical
    assert store.change(change.id) == change
    assert [a.outcome for a in store.attempts(DOC)] == ["changed", "baseline"]
    [queued] = store.pending_events()
    assert queued.event == event(
        f"change:{change.id}", topics=("private_mode", "pricing")
    )
    # a fresh store reads the texts back from the files
    other = open_store()
    latest = other.latest(DOC)
    assert latest is not None
    assert (latest.id, latest.text) == (new, "Stealth is on every plan.")
    assert [s.text for s in other.snapshots(DOC)] == [
        "Stealth is Pro only.",
        "Stealth is on every plan.",
    ]
    assert other.raw_body(old) == b"<html><p>Stealth is Pro only.</p></html>"


def test_a_failing_event_callback_leaves_no_trace(
    store: SnapshotStore, clock: FixedClock
) -> None:
    old, _ = save(store, "one", clock())

    def boom(change: Change) -> list[AlertEvent]:
        raise RuntimeError("renderer broke")

    with pytest.raises(RuntimeError, match="renderer broke"):
        save(store, "two", clock.advance(hours=1), draft=NOTICE, events=boom)

    assert [s.id for s in store.snapshots(DOC)] == [old]
    assert store.changes() == []
    assert [a.outcome for a in store.attempts(DOC)] == ["baseline"]
    new, change = save(store, "two", clock.advance(hours=1), draft=NOTICE)
    assert change is not None
    assert (change.from_snapshot, change.to_snapshot) == (old, new)


def test_texts_kept_in_memory_are_bounded_by_size(
    store: SnapshotStore,
    snapshots_dir: Path,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The newest texts are read from memory; past the budget the oldest go back to disk."""
    monkeypatch.setattr(store_core, "TEXT_CACHE_CHARS", 4_000)
    ids = [
        save(store, f"{n} " + "x" * 600, clock.advance(hours=1))[0] for n in range(8)
    ]
    for path in snapshots_dir.rglob("*.txt"):
        path.unlink()  # what is still read now comes from memory
    assert [s.text[:1] for s in map(store.snapshot, ids[-6:]) if s] == list("234567")
    with pytest.raises(StoreError, match="cannot read"):
        store.snapshot(ids[1])


def test_large_texts_are_compressed_and_read_back(
    store: SnapshotStore,
    open_store: StoreFactory,
    snapshots_dir: Path,
    clock: FixedClock,
) -> None:
    text = "A clause about training on your images. " * 500  # ~20 kB
    snap_id, _ = save(store, text, clock())
    names = list(files(snapshots_dir))
    assert any(n.endswith(".txt.zst") for n in names)
    assert not any(n.endswith(".txt") for n in names)
    snap = open_store().snapshot(snap_id)
    assert snap is not None
    assert snap.text == text


def test_texts_coming_back_within_one_second_keep_their_own_files(
    store: SnapshotStore, snapshots_dir: Path, clock: FixedClock
) -> None:
    at = clock()
    first, _ = save(store, "A", at)
    save(store, "B", at, draft=NOTICE)
    third, change = store.save(
        DOC,
        fetched=fetched(b"<html><p>A</p><!-- other markup --></html>", at),
        extracted=extracted("A"),
        change=NOTICE,
    )
    assert change is not None
    assert len(files(snapshots_dir)) == 6
    assert store.verify() == []
    assert store.raw_body(first) == b"<html><p>A</p></html>"
    assert store.raw_body(third.id) == b"<html><p>A</p><!-- other markup --></html>"


def test_snapshot_at_and_history(store: SnapshotStore, clock: FixedClock) -> None:
    t0 = clock()
    a, _ = save(store, "v1", t0)
    b, _ = save(store, "v2", clock.advance(days=1), draft=NOTICE)
    save(store, "other doc", t0, doc="mj/privacy")

    assert store.snapshot_at(DOC, t0 - timedelta(seconds=1)) is None
    found = store.snapshot_at(DOC, t0 + timedelta(hours=12))
    assert found is not None
    assert found.id == a
    found = store.snapshot_at(DOC, clock())
    assert found is not None
    assert found.id == b
    assert [s.text for s in store.snapshots(DOC)] == ["v1", "v2"]
    assert store.snapshot(9999) is None
    with pytest.raises(StoreError, match="no snapshot"):
        store.raw_body(9999)


def test_times_come_back_aware_utc(store: SnapshotStore) -> None:
    paris = timezone(timedelta(hours=2))
    at = datetime(2026, 6, 1, 14, 30, tzinfo=paris)
    snap_id, _ = save(store, "text", at)
    snap = store.snapshot(snap_id)
    assert snap is not None
    assert snap.fetched_at == at
    assert snap.fetched_at.tzinfo == UTC
    assert snap.fetched_at.hour == 12
    with pytest.raises(ValueError, match="naive"):
        store.record_failure(
            DOC, datetime(2026, 6, 1), error_kind="timeout", transient=True, message="x"
        )


def test_document_ids_must_be_platform_slash_document(
    store: SnapshotStore, clock: FixedClock
) -> None:
    for bad in ("terms", "../etc/passwd", "mj/../x", "mj/terms/extra", "/abs"):
        with pytest.raises(ValueError, match="document id"):
            save(store, "x", clock(), doc=bad)


def test_missing_snapshot_file_is_a_store_error(
    store: SnapshotStore,
    open_store: StoreFactory,
    snapshots_dir: Path,
    clock: FixedClock,
) -> None:
    snap_id, _ = save(store, "the text", clock())
    [txt] = list(snapshots_dir.rglob("*.txt"))
    txt.write_text("tampered", encoding="utf-8")
    assert store.verify() == [f"snapshot #{snap_id}: {txt} does not match its hash"]
    with pytest.raises(StoreError, match="does not match its hash"):
        open_store().snapshot(snap_id)
    txt.unlink()
    with pytest.raises(StoreError, match="cannot read"):
        open_store().latest(DOC)


def test_sweep_removes_only_orphans(
    store: SnapshotStore, snapshots_dir: Path, clock: FixedClock
) -> None:
    save(store, "kept", clock())
    kept = files(snapshots_dir)
    doc_dir = snapshots_dir / "mj" / "terms"
    (doc_dir / "20260101T000000Z-0123456789ab.txt").write_text("orphan")
    (doc_dir / "20260101T000000Z-0123456789ab.raw.zst").write_bytes(b"x")
    # what an earlier version named its files
    (doc_dir / "20250101T000000Z-0123456789ab.raw.gz").write_bytes(gzip.compress(b"x"))
    (doc_dir / ".tmpabc.tmp").write_bytes(b"half")
    (doc_dir / "notes.txt").write_text("an editor's own file")

    assert store.sweep_orphans(older_than=timedelta(hours=1)) == 0  # too fresh
    assert store.sweep_orphans(older_than=timedelta(0)) == 4
    assert files(snapshots_dir) == {**kept, "mj/terms/notes.txt": 20}
    assert store.verify() == []


# ---------------------------------------------------------------------- attempts


def test_failures_count_until_a_success(
    store: SnapshotStore, clock: FixedClock
) -> None:
    assert store.consecutive_failures(DOC) == 0
    for _ in range(3):
        store.record_failure(
            DOC,
            clock.advance(hours=1),
            error_kind="server",
            transient=True,
            message="503",
        )
    store.record_failure(
        "mj/privacy", clock(), error_kind="gone", transient=False, message="404"
    )
    assert store.consecutive_failures(DOC) == 3
    last = store.last_attempts()
    assert (last[DOC].outcome, last[DOC].error_kind, last[DOC].transient) == (
        "failed",
        "server",
        True,
    )
    assert last["mj/privacy"].message == "404"

    save(store, "back", clock.advance(hours=1))
    assert store.consecutive_failures(DOC) == 0
    store.record_failure(
        DOC,
        clock.advance(hours=1),
        error_kind="extract",
        transient=False,
        message="sel",
    )
    assert store.consecutive_failures(DOC) == 1
    store.record_unchanged(DOC, clock.advance(hours=1), Validators(), not_modified=True)
    assert store.consecutive_failures(DOC) == 0
    assert store.last_attempts()[DOC].outcome == "not_modified"
    assert [a.outcome for a in store.attempts(DOC, limit=3)] == [
        "not_modified",
        "failed",
        "baseline",
    ]


def test_validators_round_trip(store: SnapshotStore, clock: FixedClock) -> None:
    assert store.validators(DOC) == Validators()
    first = Validators(etag='"abc"', last_modified="Mon, 01 Jun 2026 10:00:00 GMT")
    save(store, "text", clock(), validators=first)
    assert store.validators(DOC) == first

    # a 304 without validators confirms the old ones; a failure does not erase them
    store.record_unchanged(DOC, clock.advance(hours=1), Validators(), not_modified=True)
    store.record_failure(
        DOC, clock.advance(hours=1), error_kind="timeout", transient=True, message="t"
    )
    assert store.validators(DOC) == first

    newer = Validators(etag='"def"')
    store.record_unchanged(DOC, clock.advance(hours=1), newer, not_modified=False)
    assert store.validators(DOC) == newer
    assert store.validators("mj/other") == Validators()


def test_check_states_agree_with_the_single_document_queries(
    store: SnapshotStore, clock: FixedClock
) -> None:
    tags = Validators(etag='"abc"', last_modified="Mon, 01 Jun 2026 10:00:00 GMT")
    snapshot_id, _ = save(store, "text", clock(), validators=tags)
    snapshot = store.snapshot(snapshot_id)
    assert snapshot is not None
    store.record_failure(
        DOC, clock.advance(hours=1), error_kind="timeout", transient=True, message="t"
    )
    other = "mj/other"
    store.record_failure(
        other, clock.advance(hours=1), error_kind="gone", transient=False, message="404"
    )
    states = store.check_states([DOC, other, "mj/never"])
    assert states[DOC].validators == store.validators(DOC) == tags
    assert states[DOC].last_failed
    assert states[DOC].latest_snapshot == snapshot.id
    assert states[DOC].latest_sha256 == snapshot.text_sha256
    assert states[other].last_failed
    assert states[other].latest_snapshot is None
    assert states["mj/never"] == CheckState()
    store.record_unchanged(DOC, clock.advance(hours=1), Validators(), not_modified=True)
    assert not store.check_states([DOC])[DOC].last_failed


def test_a_batch_of_unchanged_checks_reads_like_single_records(
    store: SnapshotStore, clock: FixedClock
) -> None:
    tags = Validators(etag='"abc"')
    first, _ = save(store, "text", clock(), validators=tags)
    other = "mj/other"
    second = store.save(
        other,
        fetched=fetched("<p>other text</p>", clock()),
        extracted=extracted("other text"),
        change=None,
    )[0].id
    store.record_failure(
        other, clock.advance(hours=1), error_kind="timeout", transient=True, message="t"
    )
    newer = Validators(etag='"def"', last_modified="Mon, 01 Jun 2026 10:00:00 GMT")
    at = clock.advance(hours=1)
    store.record_unchanged_many(
        [
            UnchangedCheck(DOC, at, tags, first, not_modified=True),
            UnchangedCheck(other, at, newer, second, not_modified=False),
        ]
    )
    store.record_unchanged_many([])  # nothing to write: no empty transaction fails

    assert [a.outcome for a in store.attempts(DOC)] == ["not_modified", "baseline"]
    assert store.attempts(DOC)[0].snapshot_id == first
    assert store.attempts(DOC)[0].at == at
    assert store.consecutive_failures(other) == 0  # the failure streak ended
    assert store.validators(other) == newer
    states = store.check_states([DOC, other])
    assert not states[other].last_failed
    assert states[other].validators == newer
    with pytest.raises(ValueError, match="bad document id"):
        store.record_unchanged_many([UnchangedCheck("x", at, tags, None, True)])


# ---------------------------------------------------------------------- changes


def test_review_and_unreviewed_filter(store: SnapshotStore, clock: FixedClock) -> None:
    save(store, "a", clock())
    _, c1 = save(store, "b", clock.advance(hours=1), draft=NOTICE)
    _, c2 = save(store, "c", clock.advance(hours=1), draft=NOTICE)
    assert c1 is not None
    assert c2 is not None

    reviewed = store.review(c1.id, "accepted", note="checked", at=clock())
    assert (reviewed.review, reviewed.note, reviewed.reviewed_at) == (
        "accepted",
        "checked",
        clock(),
    )
    assert store.change(c1.id) == reviewed
    assert [c.id for c in store.changes(unreviewed=True)] == [c2.id]
    store.review(c1.id, "dismissed", note=None, at=clock())
    found = store.change(c1.id)
    assert found is not None
    assert (found.review, found.note) == ("dismissed", None)
    with pytest.raises(StoreError, match="no change #999"):
        store.review(999, "accepted", note=None, at=clock())


def test_change_filters_and_order(store: SnapshotStore, clock: FixedClock) -> None:
    save(store, "a", clock())
    save(store, "p", clock(), doc="mj/privacy")
    save(store, "x", clock(), doc="leonardo/terms")
    _, c1 = save(
        store,
        "b",
        clock.advance(hours=1),
        draft=ChangeDraft("alert", ("gallery_default",), "gallery"),
    )
    _, c2 = save(
        store,
        "q",
        clock.advance(hours=1),
        doc="mj/privacy",
        draft=ChangeDraft("notice", (), "wording"),
    )
    _, c3 = save(
        store,
        "y",
        clock.advance(hours=1),
        doc="leonardo/terms",
        draft=ChangeDraft("alert", ("training_use",), "training"),
    )
    assert c1 is not None
    assert c2 is not None
    assert c3 is not None

    def ids(**kw: object) -> list[int]:
        return [c.id for c in store.changes(**kw)]  # type: ignore[arg-type]

    assert ids() == [c3.id, c2.id, c1.id]
    assert ids(platform="mj") == [c2.id, c1.id]
    assert ids(platform="m") == []
    assert ids(doc_id="mj/privacy") == [c2.id]
    assert ids(topic="gallery_default") == [c1.id]
    assert ids(topic="gallery") == []  # whole topic names only
    assert ids(topic="gallery%default") == []  # no LIKE wildcards
    assert ids(limit=2) == [c3.id, c2.id]
    assert ids(platform="mj", topic="training_use") == []


def test_attach_facts_raises_severity(store: SnapshotStore, clock: FixedClock) -> None:
    save(store, "a", clock())
    _, change = save(store, "b", clock.advance(hours=1), draft=NOTICE)
    assert change is not None
    assert change.facts == ()
    store.attach_facts(change.id, ["mj.stealth-pro-mega-only"])
    updated = store.attach_facts(
        change.id, ["mj.stealth-pro-mega-only", "mj.gallery-public"]
    )
    assert updated.severity == "alert"
    assert updated.facts == ("mj.stealth-pro-mega-only", "mj.gallery-public")
    assert store.change(change.id) == updated


def test_technical_save_reuses_the_raw_body_and_never_alerts(
    store: SnapshotStore, snapshots_dir: Path, clock: FixedClock
) -> None:
    save(store, "old text", clock())
    fetched_id, _ = save(
        store, "new text with nav noise", clock.advance(hours=1), draft=NOTICE
    )
    source = store.snapshot(fetched_id)
    assert source is not None
    raw_files = {p for p in files(snapshots_dir) if p.endswith(".raw.zst")}

    snap, change = store.save_technical(
        DOC,
        source=source,
        extracted=extracted("new text"),
        change=ChangeDraft("cosmetic", (), "selectors changed"),
        at=clock.advance(hours=1),
    )

    assert snap.technical
    assert snap.body_sha256 == source.body_sha256
    assert store.raw_body(snap.id) == store.raw_body(source.id)
    assert {p for p in files(snapshots_dir) if p.endswith(".raw.zst")} == raw_files
    assert change is not None
    assert change.technical
    assert (change.from_snapshot, change.to_snapshot) == (source.id, snap.id)
    latest = store.latest(DOC)
    assert latest is not None
    assert latest.id == snap.id
    assert store.pending_events() == []
    assert [c.id for c in store.changes(include_technical=False)] != [change.id]
    assert change.id not in [c.id for c in store.changes(include_technical=False)]
    # re-extracting to the same text stores nothing
    again = store.save_technical(
        DOC,
        source=source,
        extracted=extracted("new text"),
        change=ChangeDraft("cosmetic", (), "selectors changed"),
        at=clock.advance(hours=1),
    )
    assert again == (latest, None)
    # the pipeline's next fetch compares with the re-extracted text
    _, unchanged = save(store, "new text", clock.advance(hours=1), draft=NOTICE)
    assert unchanged is None


def test_fetch_result_rebuilds_the_stored_fetch(
    store: SnapshotStore, clock: FixedClock
) -> None:
    snap_id, _ = save(store, "café", clock())
    result = store.fetch_result(snap_id)
    assert result.body == "<html><p>café</p></html>".encode()
    assert result.text == "<html><p>café</p></html>"
    assert (result.url, result.final_url, result.content_type, result.encoding) == (
        "https://example.com/terms",
        "https://example.com/terms?x=1",
        "text/html; charset=utf-8",
        "utf-8",
    )
    assert result.fetched_at == clock()


# ---------------------------------------------------------------------- verdicts


def verdict(value: str, fact: str = "mj.stealth") -> Verdict:
    return Verdict(
        fact_id=fact,
        verdict=value,  # type: ignore[arg-type]
        reasons=(f"all_of[0] {value}",),
        evidence="Stealth is sold with Pro and Mega.",
        evidence_heading=("Terms", "Stealth"),
        evidence_doc="terms",
        closeness=0.93,
        quote_diff=((0, "Stealth "), (-1, "only "), (1, "also ")),
    )


def test_verdict_moves_and_since(store: SnapshotStore, clock: FixedClock) -> None:
    t0 = clock()
    calls: list[tuple[str, str | None]] = []

    def events(v: Verdict, prev: StoredVerdict | None) -> list[AlertEvent]:
        calls.append((v.verdict, None if prev is None else prev.verdict.verdict))
        return [event(f"fact:{v.fact_id}:{v.verdict}", kind="fact")]

    first = store.record_verdicts(
        [(verdict("holds"), (1, 2)), (verdict("unknown", "mj.other"), ())],
        t0,
        events=events,
    )
    assert first == []  # a first evaluation is not a move
    assert (
        store.record_verdicts([(verdict("holds"), (1, 3))], clock.advance(hours=6))
        == []
    )
    moved = store.record_verdicts(
        [(verdict("broken"), (4,))], clock.advance(hours=6), events=events
    )

    [(new, previous)] = moved
    assert new == verdict("broken")
    assert previous is not None
    assert (previous.verdict.verdict, previous.since, previous.snapshot_ids) == (
        "holds",
        t0,
        (1, 3),
    )
    assert calls == [("broken", "holds")]
    assert [e.event.key for e in store.pending_events()] == ["fact:mj.stealth:broken"]

    current = store.current_verdicts()
    assert set(current) == {"mj.stealth", "mj.other"}
    assert current["mj.stealth"].verdict == verdict("broken")  # evidence round trip
    assert current["mj.stealth"].since == clock()
    assert current["mj.other"].since == t0
    history = store.verdict_history("mj.stealth")
    assert [(h.verdict.verdict, h.since) for h in history] == [
        ("holds", t0),
        ("holds", t0),
        ("broken", clock()),
    ]
    assert history[1].checked_at == t0 + timedelta(hours=6)


def test_fact_baseline(store: SnapshotStore, clock: FixedClock) -> None:
    assert store.fact_baseline("mj.stealth") is None
    store.set_fact_baseline("mj.stealth", "Stealth is sold with Pro.", clock())
    store.set_fact_baseline("mj.stealth", "Stealth is sold with Pro and Mega.", clock())
    assert store.fact_baseline("mj.stealth") == "Stealth is sold with Pro and Mega."
    assert store.fact_baseline("mj.other") is None


# ---------------------------------------------------------------------- outbox


def test_outbox_ignores_duplicate_keys(store: SnapshotStore, clock: FixedClock) -> None:
    assert store.add_events([event("a"), event("b"), event("a")], clock()) == 2
    assert store.add_events([event("b", subject="again")], clock.advance(hours=1)) == 0
    assert store.add_events([event("c")], clock.advance(hours=1)) == 1
    pending = store.pending_events()
    assert [p.event.key for p in pending] == ["a", "b", "c"]
    assert pending[1].event == event("b")  # the first version is kept
    assert pending[0].deliveries == ()


def test_claim_is_exclusive_across_stores(
    open_store: StoreFactory, clock: FixedClock
) -> None:
    stores = [open_store(), open_store()]
    keys = [f"e{i}" for i in range(15)]
    stores[0].add_events([event(k) for k in keys], clock())
    ids = [p.id for p in stores[0].pending_events()]
    wins: list[list[bool]] = [[], []]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def claim_all(n: int) -> None:
        try:
            barrier.wait()
            for event_id in ids:
                wins[n].append(
                    stores[n].claim_delivery(
                        event_id, "slack", clock(), timedelta(minutes=5)
                    )
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [a + b for a, b in zip(*wins, strict=True)] == [1] * len(ids)


def test_lease_retry_give_up_and_done(store: SnapshotStore, clock: FixedClock) -> None:
    lease = timedelta(minutes=5)
    store.add_events([event("a"), event("b")], clock())
    a, b = (p.id for p in store.pending_events())

    assert store.claim_delivery(a, "mail", clock(), lease)
    assert not store.claim_delivery(a, "mail", clock.advance(minutes=4), lease)
    assert store.claim_delivery(a, "mail", clock.advance(minutes=1), lease)  # expired
    retry_at = clock() + timedelta(minutes=10)
    store.mark_retry(a, "mail", clock(), "SMTP 451", retry_at)
    [delivery] = store.pending_events()[0].deliveries
    assert (delivery.attempts, delivery.claimed_at, delivery.next_try_at) == (
        2,
        None,
        retry_at,
    )
    assert delivery.last_error == "SMTP 451"

    assert store.claim_delivery(a, "mail", clock.advance(minutes=10), lease)
    store.mark_sent(a, "mail", clock())
    assert not store.claim_delivery(a, "mail", clock.advance(hours=1), lease)
    assert store.claim_delivery(a, "slack", clock(), lease)  # channels are separate

    assert store.claim_delivery(b, "mail", clock(), lease)
    store.mark_given_up(b, "mail", clock(), "mailbox full")
    assert not store.claim_delivery(b, "mail", clock.advance(days=1), lease)
    [(failed_event, failed)] = store.failed_deliveries()
    assert (failed_event.id, failed.channel, failed.failed_at, failed.last_error) == (
        b,
        "mail",
        clock() - timedelta(days=1),
        "mailbox full",
    )

    store.mark_event_done(b)
    assert [p.id for p in store.pending_events()] == [a]
    assert not store.claim_delivery(b, "slack", clock(), lease)
    with pytest.raises(StoreError, match="no outbox event"):
        store.mark_event_done(999)
    sent = {d.channel: d for d in store.pending_events()[0].deliveries}
    assert sent["mail"].sent_at is not None
    assert sent["slack"].sent_at is None


def test_heartbeat(store: SnapshotStore, clock: FixedClock) -> None:
    assert store.last_heartbeat() is None
    store.heartbeat(clock(), {"documents": 12})
    store.heartbeat(clock.advance(minutes=1), {"documents": 13, "next": "terms"})
    assert store.last_heartbeat() == (clock(), {"documents": 13, "next": "terms"})


# ---------------------------------------------------------------------- migrations


def test_migrate_from_empty(open_store: StoreFactory) -> None:
    store = open_store(migrate=False)
    assert store.schema_revision() is None
    store.migrate()
    assert store.schema_revision() == "0002"
    store.migrate()  # again: nothing to do
    assert open_store().schema_revision() == "0002"


def test_schema_head_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_HEAD]


def test_processes_opening_a_new_database_at_once_all_come_up(
    db_url: str, snapshots_dir: Path, open_store: StoreFactory
) -> None:
    code = (
        "import sys; from pathlib import Path; from watcher.store import SnapshotStore\n"
        "import alembic.command\n"  # imported, so that the race is in the migration
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "SnapshotStore(sys.argv[1], Path(sys.argv[2])).close()\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url, str(snapshots_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(3)
    ]
    for p in procs:  # all imported: now start them together
        assert p.stdout is not None
        assert p.stdout.readline() == b"ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 3, [r[1].decode() for r in results]
    assert open_store(migrate=False).schema_revision() == SCHEMA_HEAD


def test_upgrade_from_0001_keeps_data(
    open_store: StoreFactory, db_url: str, snapshots_dir: Path, clock: FixedClock
) -> None:
    old = open_store(migrate=False)
    old.migrate("0001")
    assert old.schema_revision() == "0001"
    # what a store at revision 0001 wrote: two snapshots with their files, a change
    doc_dir = snapshots_dir / "mj" / "terms"
    doc_dir.mkdir(parents=True)
    t0 = clock()
    t1 = t0 + timedelta(days=1)
    rows = []
    for n, (text, at) in enumerate((("first", t0), ("second", t1)), start=1):
        (doc_dir / f"{n}.txt").write_text(text, encoding="utf-8")
        (doc_dir / f"{n}.raw.gz").write_bytes(gzip.compress(text.encode()))
        sha = hashlib.sha256(text.encode()).hexdigest()
        rows.append(
            {
                "id": n,
                "doc_id": DOC,
                "fetched_at": at,
                "text_sha256": sha,
                "body_sha256": sha,
                "technical": False,
                "text_path": f"mj/terms/{n}.txt",
                "text_size": len(text),
                "raw_path": f"mj/terms/{n}.raw.gz",
            }
        )
    when = sa.DateTime(timezone=True)
    snapshots = sa.table(
        "snapshots",
        *(sa.column(k) for k in rows[0] if k != "fetched_at"),
        sa.column("fetched_at", when),
    )
    attempts = sa.table(
        "attempts",
        *(
            sa.column(k)
            for k in ("doc_id", "outcome", "transient", "snapshot_id", "etag")
        ),
        sa.column("at", when),
    )
    changes = sa.table(
        "changes",
        *(
            sa.column(k)
            for k in ("doc_id", "from_snapshot", "to_snapshot", "severity", "topics")
        ),
        *(sa.column(k) for k in ("summary", "technical")),
        sa.column("detected_at", when),
    )
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(snapshots.insert(), rows)
        conn.execute(
            attempts.insert(),
            [
                {"doc_id": DOC, "outcome": "baseline", "transient": False,
                 "snapshot_id": 1, "etag": '"v1"', "at": t0},
                {"doc_id": DOC, "outcome": "changed", "transient": False,
                 "snapshot_id": 2, "etag": '"v2"', "at": t1},
            ],
        )  # fmt: skip
        conn.execute(
            changes.insert(),
            {
                "doc_id": DOC,
                "from_snapshot": 1,
                "to_snapshot": 2,
                "severity": "alert",
                "topics": '["training_use"]',
                "summary": "training clause",
                "technical": False,
                "detected_at": t1,
            },
        )
    engine.dispose()
    if db_url.startswith("postgresql"):
        with engine.begin() as conn:  # ids were given explicitly: move the sequences on
            for table in ("snapshots", "changes", "attempts"):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        engine.dispose()

    store = open_store()

    assert store.schema_revision() == "0002"
    assert [(s.text, s.fetched_at) for s in store.snapshots(DOC)] == [
        ("first", t0),
        ("second", t1),
    ]
    [change] = store.changes()
    assert (change.from_snapshot, change.to_snapshot, change.topics, change.facts) == (
        1,
        2,
        ("training_use",),
        (),
    )
    assert store.validators(DOC) == Validators(etag='"v2"')
    assert store.raw_body(1) == b"first"  # gzip, as revision 0001 wrote raw bodies
    assert store.attach_facts(change.id, ["mj.training"]).facts == ("mj.training",)
    new, next_change = save(store, "third", t1 + timedelta(days=1), draft=NOTICE)
    assert next_change is not None
    assert (next_change.from_snapshot, next_change.to_snapshot) == (2, new)
    store.record_verdicts([(verdict("holds"), (new,))], clock())
    assert set(store.current_verdicts()) == {"mj.stealth"}
    assert store.verify() == []


def test_sqlite_default_location_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FixedClock
) -> None:
    monkeypatch.chdir(tmp_path)
    with SnapshotStore("sqlite:///snapshots/watcher.db", Path("snapshots")) as store:
        save(store, "text", clock())
    db = tmp_path / "snapshots" / "watcher.db"
    assert db.is_file()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
    assert any((tmp_path / "snapshots" / "mj" / "terms").glob("*.txt"))


def test_unreachable_database_is_a_store_error(tmp_path: Path) -> None:
    url = "postgresql://nobody:secret@127.0.0.1:1/none"
    with pytest.raises(StoreError, match="cannot open the database") as info:
        SnapshotStore(url, tmp_path)
    assert "secret" not in str(info.value)
    with pytest.raises(StoreError, match="unsupported database"):
        SnapshotStore("mysql://localhost/x", tmp_path)


# ---------------------------------------------------------------------- crash safety


def check_consistent(store: SnapshotStore, where: str) -> int:
    """Assert what a crash must never break; returns how many snapshots there are."""
    assert store.verify() == [], where
    total_snapshots = total_changes = 0
    for doc in CRASH_DOCS:
        snaps = store.snapshots(doc)  # raises if a file is missing or corrupt
        for snap in snaps:
            assert hashlib.sha256(snap.text.encode()).hexdigest() == snap.text_sha256
            body = store.raw_body(snap.id)
            assert hashlib.sha256(body).hexdigest() == snap.body_sha256, where
        # every snapshot after the first came with its change, from the one before it
        changes = sorted(store.changes(doc_id=doc), key=lambda c: c.id)
        assert [(c.from_snapshot, c.to_snapshot) for c in changes] == [
            (a.id, b.id) for a, b in itertools.pairwise(snaps)
        ], where
        # ... and with its attempt
        assert sorted(
            a.snapshot_id or 0
            for a in store.attempts(doc, limit=1_000_000)
            if a.outcome in ("baseline", "changed")
        ) == [s.id for s in snaps], where
        total_snapshots += len(snaps)
        total_changes += len(changes)
    # ... and with its outbox event
    assert len(store.pending_events()) == total_changes, where
    return total_snapshots


CRASH_DOCS = ("mj/terms", "mj/privacy")


def test_killed_saves_leave_a_consistent_store(
    db_url: str, snapshots_dir: Path, open_store: StoreFactory, clock: FixedClock
) -> None:
    """SIGKILL a process saving in a loop 20 times at random moments; check after each."""
    rounds = 20
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))
    counts = []
    with subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "store_crash_worker.py"), db_url,
         str(snapshots_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    ) as worker:  # fmt: skip
        assert worker.stdin is not None
        assert worker.stdout is not None
        try:
            for n in range(rounds):
                worker.stdin.write(f"{seed * 100 + n}\n")
                worker.stdin.flush()
                ready = worker.stdout.readline().split()
                assert ready[:1] == ["ready"], f"the saver did not start: {ready}"
                time.sleep(rng.uniform(0.02, 0.25))
                os.kill(int(ready[1]), signal.SIGKILL)
                assert worker.stdout.readline() == f"ended {-signal.SIGKILL}\n"
                store = open_store()
                counts.append(check_consistent(store, f"round {n}, seed {seed}"))
                store.close()
        finally:
            worker.stdin.close()
            worker.wait(timeout=30)
    assert worker.returncode == 0

    assert counts[-1] >= rounds, "the savers hardly saved: the test proved little"
    store = open_store()
    store.sweep_orphans(older_than=timedelta(0))
    assert check_consistent(store, "after the sweep") == counts[-1]
    new_id, change = save(
        store, "after the crashes", clock(), doc=CRASH_DOCS[0], draft=NOTICE
    )
    assert change is not None
    assert change.to_snapshot == new_id
