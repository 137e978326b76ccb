"""Forks processes that save snapshots in a tight loop until killed (test_store's crash test).

Usage: ``python store_crash_worker.py DB_URL SNAPSHOTS_DIR``, then one seed per line on
stdin. For each seed it forks a saver, which opens the store, prints ``ready <pid>`` and saves
until it is killed; the worker then prints ``ended <exit code>`` (``-9`` after SIGKILL). The
imports happen once, so a kill costs milliseconds. Every save carries a change draft and one
outbox event, and every third text is saved twice (the second save must be "unchanged"), so a
kill can land in any step of ``save``.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from watcher.models import (
    AlertEvent,
    Change,
    ChangeDraft,
    Extracted,
    FetchResult,
    Validators,
)
from watcher.store import SnapshotStore

__all__ = ["DOCS", "main", "save_forever"]

DOCS = ("mj/terms", "mj/privacy")


def _events(change: Change) -> list[AlertEvent]:
    return [
        AlertEvent(
            key=f"change:{change.id}",
            kind="change",
            severity=change.severity,
            platform=change.platform,
            doc_id=change.doc_id,
            topics=change.topics,
            subject=change.summary,
            payload={"change": change.id},
        )
    ]


def save_forever(url: str, directory: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = SnapshotStore(url, directory)
    print("ready", os.getpid(), flush=True)
    at = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=seed % 100_000)
    n = 0
    while True:
        n += 1
        at += timedelta(seconds=1)
        doc = DOCS[n % len(DOCS)]
        # now and then a text above the gzip threshold, so both text file kinds are written
        repeat = 21_000 if rng.random() < 0.05 else rng.choice((10, 300))
        text = f"# Terms {seed}-{n}\n" + "clause text. " * repeat
        body = f"<html><body>{text}</body></html>".encode()
        extracted = Extracted(
            blocks=(),
            text=text,
            text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        )
        fetched = FetchResult(
            url="https://example.com/" + doc,
            final_url="https://example.com/" + doc,
            status=200,
            body=body,
            text=body.decode(),
            content_type="text/html",
            encoding="utf-8",
            validators=Validators(etag=f'"{seed}-{n}"'),
            fetched_at=at,
        )
        draft = ChangeDraft("notice", ("pricing",), f"version {seed}-{n}")
        for _ in range(2 if n % 3 == 0 else 1):
            store.save(
                doc, fetched=fetched, extracted=extracted, change=draft, events=_events
            )


def main(argv: list[str]) -> int:
    url, directory = argv[1], Path(argv[2])
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:  # the saver: never returns into this loop
            code = 1
            try:
                save_forever(url, directory, int(line))
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("ended", os.waitstatus_to_exitcode(status), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
