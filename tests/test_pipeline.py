"""run_once end to end on the library: failing streaks, recovery, facts going unknown, reextract."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import FixedClock, LocalServer
from watcher import pipeline
from watcher.config import load_config
from watcher.models import Config
from watcher.notify import LogNotifier
from watcher.store import SnapshotStore
from watcher.text import TopicMatcher

PAGE = """<html><body><nav>Home</nav><main>
<h1>Terms</h1>
<h2>9. Law</h2>
<p>This Agreement shall be governed by the laws of the State of California, without regard
to conflict of law rules, and disputes go to the courts of San Francisco County.</p>
<h2>10. Content</h2>
<p>{content}</p>
</main></body></html>"""
CONTENT = "You own the images you create, and we do not use them to train our models without consent."


def _config(tmp_path: Path, url: str, remove_text: str = "x^") -> Config:
    directory = tmp_path / "config"
    (directory / "platforms").mkdir(parents=True, exist_ok=True)
    (directory / "watcher.yaml").write_text(
        f"storage: {{url: 'sqlite:///{tmp_path}/w.db', snapshots_dir: '{tmp_path}/snaps'}}\n"
        "fetch: {timeout: 2s, per_host_interval: 0s, retries: 0}\n"
        "notify: {alert_after_failures: 2}\n",
        encoding="utf-8",
    )
    (directory / "platforms" / "acme.yaml").write_text(
        f"""
name: Acme
documents:
  terms: {{type: terms_of_service, url: '{url}', select: [main], remove_text: ['{remove_text}'], min_chars: 100}}
facts:
  - id: california-law
    topic: jurisdiction
    claim: Governed by California law.
    evidence:
      all_of: [{{doc: terms, pattern: 'governed by the laws of the state of california'}}]
""",
        encoding="utf-8",
    )
    return load_config(directory, environ={})


@pytest.fixture
def runtime(
    tmp_path: Path, http_server: LocalServer, clock: FixedClock
) -> Iterator[pipeline.Runtime]:
    url = http_server.set("/terms", PAGE.format(content=CONTENT))
    config = _config(tmp_path, url)
    store = SnapshotStore(
        config.settings.storage.url, config.settings.storage.snapshots_dir
    )
    try:
        yield pipeline.Runtime(
            config,
            store,
            None,
            LogNotifier(),
            TopicMatcher(config.settings.topics),
            clock,
        )
    finally:
        store.close()


def _events(store: SnapshotStore) -> list[str]:
    return [
        e.event.key.split(":")[0] + ":" + e.event.subject
        for e in store.pending_events()
    ]


@contextmanager
def _single_platform_runtime(
    tmp_path: Path, clock: FixedClock, name: str, platform: str
) -> Iterator[pipeline.Runtime]:
    """A runtime over ``config/platforms/<name>.yaml`` = ``platform``, its store open."""
    directory = tmp_path / "config"
    (directory / "platforms").mkdir(parents=True)
    (directory / "watcher.yaml").write_text(
        f"storage: {{url: 'sqlite:///{tmp_path}/w.db', snapshots_dir: '{tmp_path}/snaps'}}\n"
        "fetch: {timeout: 2s, per_host_interval: 0s, retries: 0}\n",
        encoding="utf-8",
    )
    (directory / "platforms" / f"{name}.yaml").write_text(platform, encoding="utf-8")
    config = load_config(directory, environ={})
    store = SnapshotStore(
        config.settings.storage.url, config.settings.storage.snapshots_dir
    )
    try:
        yield pipeline.Runtime(
            config, store, None, LogNotifier(), TopicMatcher(), clock
        )
    finally:
        store.close()


def test_a_failing_streak_alerts_once_and_its_end_alerts_once(
    runtime: pipeline.Runtime, http_server: LocalServer, clock: FixedClock
) -> None:
    assert pipeline.run_once(runtime, notify=False).outcomes[0].outcome == "baseline"
    assert (
        runtime.store.current_verdicts()["acme.california-law"].verdict.verdict
        == "holds"
    )

    http_server.set("/terms", "down", status=503, content_type="text/plain")
    clock.advance(hours=1)
    report = pipeline.run_once(runtime, notify=False)
    assert report.failed[0].error_kind == "server"
    assert _events(runtime.store) == []  # one failure is not an alert
    # the last good text still counts: one failure does not make a fact unknown
    assert (
        runtime.store.current_verdicts()["acme.california-law"].verdict.verdict
        == "holds"
    )

    clock.advance(hours=1)
    pipeline.run_once(runtime, notify=False)
    events = _events(runtime.store)
    assert [e.split(":")[0] for e in events] == ["failing", "fact"]
    assert "2 checks failed in a row (server)" in events[0]
    assert 'fact "california-law" now unknown (was holds)' in events[1]

    clock.advance(hours=1)
    pipeline.run_once(
        runtime, notify=False
    )  # a third failure: same streak, no new alert
    assert len(_events(runtime.store)) == 2

    http_server.set("/terms", PAGE.format(content=CONTENT))
    clock.advance(hours=1)
    report = pipeline.run_once(runtime, notify=False)
    assert report.outcomes[0].outcome in ("unchanged", "not_modified")
    kinds = [e.split(":")[0] for e in _events(runtime.store)]
    assert kinds == ["failing", "fact", "recovered", "fact"]
    assert (
        runtime.store.current_verdicts()["acme.california-law"].verdict.verdict
        == "holds"
    )


def test_reextract_after_a_rule_change_is_technical_and_silent(
    runtime: pipeline.Runtime, tmp_path: Path, http_server: LocalServer
) -> None:
    pipeline.run_once(runtime, notify=False)
    doc = runtime.config.document("acme/terms")
    assert doc is not None
    assert pipeline.reextract(runtime, doc) is None  # same rules, same text

    # the user drops a phrase that changes without meaning: the text changes, nothing alerts
    wider = _config(
        tmp_path, http_server.url("/terms"), remove_text="and disputes go to[^.]*"
    )
    rt = pipeline.Runtime(
        wider, runtime.store, None, LogNotifier(), runtime.matcher, runtime.now
    )
    doc = wider.document("acme/terms")
    assert doc is not None
    change = pipeline.reextract(rt, doc)
    assert change is not None
    assert change.technical
    assert change.severity == "cosmetic"
    assert runtime.store.pending_events() == []
    latest = runtime.store.latest("acme/terms")
    assert latest is not None
    assert latest.technical


def test_a_fact_over_two_documents_changed_together_is_judged_on_both_new_texts(
    tmp_path: Path, http_server: LocalServer, clock: FixedClock
) -> None:
    """Old: 'level one' + 'tier one'; new: 'level two' + 'tier two'. The fact holds on both;
    judged on one new text and one old, it would break and alert for nothing."""
    page = "<html><body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
    filler = " This sentence is here so that the page is long enough to be a real page."
    a = http_server.set(
        "/a", page.format(title="A", text="Members get level one access." + filler)
    )
    b = http_server.set(
        "/b", page.format(title="B", text="Members get tier one access." + filler)
    )
    platform = f"""
name: Duo
documents:
  a: {{type: terms_of_service, url: '{a}', select: [main], min_chars: 40}}
  b: {{type: pricing, url: '{b}', select: [main], min_chars: 40}}
facts:
  - id: access
    topic: pricing
    claim: Members get access, by the old or the new name.
    evidence:
      any_of: [{{doc: a, pattern: 'level one'}}, {{doc: b, pattern: 'tier two'}}]
"""
    with _single_platform_runtime(tmp_path, clock, "duo", platform) as runtime:
        store = runtime.store
        pipeline.run_once(runtime, notify=False)
        assert store.current_verdicts()["duo.access"].verdict.verdict == "holds"
        http_server.set(
            "/a", page.format(title="A", text="Members get level two access." + filler)
        )
        http_server.set(
            "/b", page.format(title="B", text="Members get tier two access." + filler)
        )
        clock.advance(hours=1)
        report = pipeline.run_once(runtime, notify=False)
        assert [o.outcome for o in report.outcomes] == ["changed", "changed"]
        assert report.moved_facts == ()
        assert store.current_verdicts()["duo.access"].verdict.verdict == "holds"
        assert [e.event.kind for e in store.pending_events()] == []


def test_a_cycle_over_many_documents_of_one_host(
    tmp_path: Path, http_server: LocalServer, clock: FixedClock
) -> None:
    """One connection for the whole cycle; every check recorded, the unchanged ones in
    batches; a body that changed only in its markup is "unchanged", not a new snapshot."""
    count = 230  # more than one batch of unchanged checks
    page = "<html><body><main><h1>Terms {n}</h1><p>{text}</p></main></body></html>"
    text = "You keep the rights to what you make here; we only show it back to you."
    urls = [
        http_server.set(f"/t{n}", page.format(n=n, text=text)) for n in range(count)
    ]
    documents = "\n".join(
        f"  t{n}: {{type: terms_of_service, url: '{url}', select: [main], min_chars: 40}}"
        for n, url in enumerate(urls)
    )
    platform = f"name: Many\ndocuments:\n{documents}\n"
    with _single_platform_runtime(tmp_path, clock, "many", platform) as runtime:
        store = runtime.store
        first = pipeline.run_once(runtime, notify=False)
        assert {o.outcome for o in first.outcomes} == {"baseline"}
        assert len({r.client_port for r in http_server.requests}) == 1

        # new markup, same text: fetched in full (a new ETag), stored as nothing new
        http_server.set("/t7", page.format(n=7, text=text).replace("<p>", "<p  >"))
        clock.advance(hours=1)
        second = pipeline.run_once(runtime, notify=False)
        outcomes = {o.doc_id: o.outcome for o in second.outcomes}
        assert outcomes.pop("many/t7") == "unchanged"
        assert set(outcomes.values()) == {"not_modified"}
        assert len(store.snapshots("many/t7")) == 1
        last = store.last_attempts()
        assert len(last) == count
        assert {a.at for a in last.values()} == {clock()}
        assert last["many/t7"].outcome == "unchanged"
        assert last["many/t7"].snapshot_id == store.snapshots("many/t7")[0].id
        assert store.validators("many/t3").etag is not None
