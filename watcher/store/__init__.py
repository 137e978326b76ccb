"""The store: dated snapshots of every document, checks, changes, verdicts and the outbox.

``SnapshotStore(url, snapshots_dir)`` opens SQLite (``sqlite:///path``, the parent directory
is created; WAL, foreign keys, busy timeout) or PostgreSQL (``postgresql+psycopg://...``) with
the same code, and brings the schema to the newest Alembic revision unless ``migrate=False``.

Files and rows. The raw body (zstd) and the extracted text (``.txt``, ``.txt.zst`` over 16 KB)
of a snapshot live under ``<snapshots_dir>/<platform>/<document>/<UTC stamp>-<sha[:12]>``; the
database is their index. Files are written atomically (temporary file in the same directory,
fsync, published by ``os.link``, directory fsync) *before* the snapshot row, its change row,
its attempt row and its outbox events are inserted and committed together (one transaction,
which also holds the document's write lock while the files are written). A crash leaves at worst
an unreferenced file (``sweep_orphans`` removes those), never a row without its files or a
change without its snapshots. A text whose hash equals the latest snapshot's writes no file.

"Newest" means last recorded (highest id) for snapshots and attempts; ``snapshot_at`` goes by
``fetched_at``. Every datetime going in must be timezone-aware; every one coming out is UTC.

Errors: every public method raises ``StoreError`` when the database or a snapshot file cannot
be read or written (a missing or corrupt snapshot file included), or when a row it must act
on does not exist (``review``, ``attach_facts``, ``raw_body``, ``fetch_result``,
``save_technical``'s source, ``mark_event_done``). ``ValueError`` marks a programmer error: a
naive datetime, a malformed document id, an ``Extracted`` whose hash is not its text's.
Exceptions raised by an ``events`` callback propagate unchanged (the transaction is rolled
back); the callbacks run inside the write transaction and must not call the store.

Layout: ``SnapshotStore`` is put together from one mixin per kind of record, all on
``_core.StoreCore`` (engine, sessions, text cache): ``_snapshots`` (reading), ``_saving``
(``save``, ``save_technical``), ``_attempts``, ``_changes``, ``_verdicts``, ``_outbox``,
``_upkeep`` (heartbeat, ``verify``, ``sweep_orphans``). ``_engine`` opens the database and
runs the Alembic revisions in ``migrations/``; ``_files`` writes and reads snapshot files;
``_records`` checks arguments and turns the ``_tables`` rows into ``watcher.models`` records.
"""

from __future__ import annotations

from watcher.store._attempts import Attempts
from watcher.store._changes import Changes
from watcher.store._engine import MIGRATIONS_DIR, SCHEMA_HEAD
from watcher.store._outbox import Outbox
from watcher.store._saving import Saving
from watcher.store._snapshots import Snapshots
from watcher.store._upkeep import Upkeep
from watcher.store._verdicts import Verdicts

__all__ = ["MIGRATIONS_DIR", "SCHEMA_HEAD", "SnapshotStore"]


class SnapshotStore(Saving, Snapshots, Attempts, Changes, Verdicts, Outbox, Upkeep):
    """Snapshots and their files, attempts, changes, verdicts, outbox; see the module doc.

    ``SnapshotStore(url, snapshots_dir, *, migrate=True)`` (``StoreCore.__init__``).
    """

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
