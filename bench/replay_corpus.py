"""Replay the real archived histories of ../shared/corpus through `watcher check`.

Each document's archived pages are served, in time order, from a local HTTP server at one URL;
after each one the pipeline runs a check with the clock set to the archive's fetch time. The
extraction rules are the archive's own (Open Terms Archive declarations: `select`, `remove`,
with the selectors of earlier declarations kept first so both eras extract). The report gives,
per document, how each transition was judged: unchanged (same text after normalisation),
cosmetic, notice or alert — and the summaries of the notices and alerts.

    python bench/replay_corpus.py                 # the .html snapshots
    python bench/replay_corpus.py --markdown      # the archive's .md versions (every version)
    python bench/replay_corpus.py --service dall-e --verbose

Expectations from corpus/CHANGES.md are checked at the end (exit 1 when one fails).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.localserver import LocalServer
from watcher import pipeline
from watcher.fetch import Fetcher
from watcher.models import (
    Config,
    Document,
    FetchSettings,
    Platform,
    Settings,
    StorageSettings,
)
from watcher.notify import LogNotifier
from watcher.store import SnapshotStore
from watcher.text import TopicMatcher

CORPUS = ROOT.parent / "shared" / "corpus"

# (service, document, from stamp, to stamp, required severity, required topics)
EXPECTATIONS = [
    (
        "dall-e",
        "terms-of-service",
        "2024-02-20T183017Z",
        "2024-06-10T003111Z",
        "alert",
        {"jurisdiction", "training_use"},
    ),
]
# Stretches CHANGES.md calls noise (a per-request tracking parameter in a link): every
# transition after the first stamp up to the last one must raise nothing.
NOISE_WINDOWS = [
    (
        "dall-e",
        "platform-to-business-notice",
        "2026-07-20T190349Z",
        "2026-08-22T190313Z",
    ),
    (
        "dall-e",
        "platform-to-business-notice",
        "2026-07-25T190259Z",
        "2026-07-26T070302Z",
    ),
]


@dataclass
class Transition:
    stamp: str
    outcome: str
    severity: str | None = None
    topics: tuple[str, ...] = ()
    summary: str = ""


@dataclass
class Replay:
    service: str
    document: str
    versions: int = 0
    transitions: list[Transition] = field(default_factory=list)
    seconds: float = 0.0


def _declarations(corpus: Path) -> dict[tuple[str, str], tuple[list[str], list[str]]]:
    """(service dir, document dir) -> (select list, remove list) from the OTA declarations."""
    names = {
        "DALL-E": "dall-e",
        "Stability-AI": "stability-ai",
        "Civitai": "civitai",
        "Bing": "bing",
    }
    found: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for path in sorted((corpus / "ota-declarations").glob("*.json")):
        if path.name.endswith(".history.json"):
            continue
        service = names[path.stem.split("--", 1)[1]]
        current = json.loads(path.read_text())["terms"]
        history_path = path.with_name(path.stem + ".history.json")
        history = json.loads(history_path.read_text()) if history_path.exists() else {}
        for title, decl in current.items():
            doc = title.lower().replace(" ", "-")
            selects: list[str] = []
            removes: list[str] = []
            for entry in [*history.get(title, []), decl]:
                select = entry.get("select", [])
                for sel in [select] if isinstance(select, str) else select:
                    if isinstance(sel, str) and sel not in selects:
                        selects.append(sel)
                for rem in entry.get("remove", []):
                    if isinstance(rem, str) and rem not in removes:
                        removes.append(rem)
            found[(service, doc)] = (selects, removes)
    return found


def _stamp_time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H%M%SZ").replace(tzinfo=UTC)


def replay_document(
    server: LocalServer, files: list[Path], doc: Document, workdir: Path, verbose: bool
) -> Replay:
    result = Replay(doc.platform, doc.name, versions=len(files))
    path = "/" + doc.id
    settings = Settings(
        storage=StorageSettings(
            f"sqlite:///{workdir}/{doc.platform}-{doc.name}.db", workdir / "snaps"
        ),
        fetch=FetchSettings(
            timeout=10, per_host_interval=0, retries=0, max_bytes=20_000_000
        ),
    )
    config = Config(settings, (Platform(doc.platform, doc.platform, (doc,)),), workdir)
    store = SnapshotStore(settings.storage.url, settings.storage.snapshots_dir)
    clock = {"now": datetime.now(UTC)}
    runtime = pipeline.Runtime(
        config, store, None, LogNotifier(), TopicMatcher(), lambda: clock["now"]
    )
    started = time.perf_counter()
    try:
        for file in files:
            stamp = file.stem
            clock["now"] = _stamp_time(stamp)
            content_type = (
                "text/markdown" if file.suffix == ".md" else "text/html; charset=utf-8"
            )
            server.set(
                path, file.read_bytes(), content_type=content_type, conditional=False
            )
            report = asyncio.run(_check(runtime, doc))
            outcome = report.outcomes[0]
            change = outcome.change
            transition = Transition(
                stamp,
                outcome.outcome,
                change.severity if change else None,
                change.topics if change else (),
                change.summary if change else (outcome.error or ""),
            )
            result.transitions.append(transition)
            if verbose and outcome.outcome not in ("unchanged", "not_modified"):
                print(
                    f"  {doc.id} {stamp}: {outcome.outcome} {transition.severity or ''} {transition.summary}"
                )
    finally:
        store.close()
    result.seconds = time.perf_counter() - started
    return result


async def _check(runtime: pipeline.Runtime, doc: Document) -> pipeline.RunReport:
    async with Fetcher(runtime.config.settings.fetch) as fetcher:
        rt = pipeline.Runtime(
            runtime.config,
            runtime.store,
            fetcher,
            runtime.notifier,
            runtime.matcher,
            runtime.now,
        )
        return await pipeline.check_documents(rt, [doc], notify=False)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--service", action="append", help="only these services (repeatable)"
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="replay the archive's .md versions instead",
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}; nothing to replay")
        return 0
    declarations = _declarations(args.corpus)
    suffix = ".md" if args.markdown else ".html"
    server = LocalServer()
    server.start()
    replays: list[Replay] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for service_dir in sorted(p for p in args.corpus.iterdir() if p.is_dir()):
                service = service_dir.name
                if service == "ota-declarations" or (
                    args.service and service not in args.service
                ):
                    continue
                for doc_dir in sorted(p for p in service_dir.iterdir() if p.is_dir()):
                    files = sorted(doc_dir.glob(f"*{suffix}"))
                    if len(files) < 2:
                        continue
                    selects, removes = declarations.get(
                        (service, doc_dir.name), ([], [])
                    )
                    doc = Document(
                        platform=service,
                        name=doc_dir.name,
                        platform_name=service,
                        type=doc_dir.name.replace("-", "_"),
                        url=server.url(f"/{service}/{doc_dir.name}"),
                        format="markdown" if args.markdown else "html",
                        select=() if args.markdown else tuple(selects),
                        remove=() if args.markdown else tuple(removes),
                        min_chars=500,
                    )
                    replays.append(
                        replay_document(server, files, doc, Path(tmp), args.verbose)
                    )
    finally:
        server.stop()
    return _report(replays)


def _report(replays: list[Replay]) -> int:
    print(
        f"{'document':45} {'versions':>8} {'unchanged':>9} {'cosmetic':>8} {'notice':>6} {'alert':>5} {'failed':>6} {'s':>6}"
    )
    for r in replays:
        counts = Counter(t.severity or t.outcome for t in r.transitions[1:])
        print(
            f"{r.service + '/' + r.document:45} {r.versions:>8} {counts['unchanged'] + counts['not_modified']:>9} "
            f"{counts['cosmetic']:>8} {counts['notice']:>6} {counts['alert']:>5} {counts['failed']:>6} {r.seconds:>6.1f}"
        )
    print()
    for r in replays:
        for t in r.transitions[1:]:
            if t.severity in ("notice", "alert") or t.outcome == "failed":
                print(
                    f"{r.service}/{r.document} {t.stamp} {t.severity or t.outcome} {list(t.topics)}: {t.summary}"
                )
    failures = []
    by_key = {(r.service, r.document): r for r in replays}
    for service, document, before, after, severity, topics in EXPECTATIONS:
        replay = by_key.get((service, document))
        if replay is None:
            continue
        stamps = [t.stamp for t in replay.transitions]
        if before not in stamps or after not in stamps:
            continue
        transition = replay.transitions[stamps.index(after)]
        if transition.severity != severity or not topics <= set(transition.topics):
            failures.append(
                f"{service}/{document} {before} -> {after}: expected {severity} with {sorted(topics)}, "
                f"got {transition.severity} {list(transition.topics)}"
            )
    for service, document, first, last in NOISE_WINDOWS:
        replay = by_key.get((service, document))
        if replay is None:
            continue
        window = [t for t in replay.transitions if first < t.stamp <= last]
        raised = [t for t in window if t.severity in ("notice", "alert")]
        if window and raised:
            failures.append(
                f"{service}/{document} {first}..{last}: {len(raised)} of {len(window)} noise transitions raised"
            )
    print()
    print("expectations: " + ("all met" if not failures else "FAILED"))
    for failure in failures:
        print("  " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
