"""The database connection of the store: engine setup, transaction locks and migrations.

``create_engine(url)`` opens SQLite (the parent directory is created; WAL, foreign keys, busy
timeout, ``BEGIN IMMEDIATE`` for writers) or PostgreSQL (``postgresql://`` means psycopg 3).
``lock`` serialises writers of one name on PostgreSQL (SQLite's write lock already does).
``migrate`` brings the schema to an Alembic revision; ``schema_revision`` reads where it is.

Raises ``StoreError`` for a bad or unsupported URL, a directory that cannot be created, or a
database that cannot be read or migrated.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, Engine, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from watcher.errors import StoreError

__all__ = [
    "BUSY_TIMEOUT_S",
    "MIGRATIONS_DIR",
    "SCHEMA_HEAD",
    "create_engine",
    "lock",
    "migrate",
    "schema_revision",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision in MIGRATIONS_DIR (a test checks): a database already there is opened
# without loading alembic at all.
SCHEMA_HEAD = "0002"
# How long a SQLite writer waits for another one before failing: a daemon cycle and a CLI
# command may overlap, and no transaction here holds the lock for more than a moment.
BUSY_TIMEOUT_S = 30.0
# alembic's ``context`` and ``op`` are module-level proxies: one migration per process at a time
_ALEMBIC_LOCK = threading.Lock()
_VERSION_TABLE = "alembic_version"  # Alembic's default


def create_engine(url: str) -> Engine:
    """An engine for ``url``; on SQLite, writers (``watcher_write=True``) begin IMMEDIATE."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {exc}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return sqlalchemy.create_engine(parsed, pool_pre_ping=True)
    if backend != "sqlite":
        raise StoreError(f"unsupported database {backend!r}: use sqlite or postgresql")
    database = parsed.database
    memory = not database or database == ":memory:"
    if not memory and not parsed.query.get("uri"):
        assert database is not None
        # absolute, so a later change of working directory cannot move the database
        database = str(Path(database).absolute())
        parsed = parsed.set(database=database)
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory of {database}: {exc}"
            ) from exc
    engine = sqlalchemy.create_engine(
        parsed,
        connect_args={"timeout": BUSY_TIMEOUT_S},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # we issue BEGIN ourselves (below), so pysqlite must not
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # WAL + NORMAL: a commit is atomic and survives a process crash without an
            # fsync per transaction (a power cut may lose the newest few, never corrupt)
            cursor.execute("PRAGMA synchronous=NORMAL")
            _set_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # writers take the lock up front, so two writers never deadlock on an upgrade
        write = conn.get_execution_options().get("watcher_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _set_wal(cursor: sqlite3.Cursor) -> None:
    """Switch to WAL; on a new database that other processes open at the same moment.

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting, when waiting could deadlock; so wait and try again here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def lock(conn: Connection, name: str) -> None:
    """PostgreSQL: take the transaction-scoped advisory lock ``name``; SQLite: nothing."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(name.encode()).digest()[:8], "big", signed=True
        )
        conn.execute(select(func.pg_advisory_xact_lock(key)))


def migrate(engine: Engine, url: str, revision: str) -> None:
    """Upgrade the schema to ``revision``; ``url`` (password hidden) is for messages."""
    if (
        revision in ("head", SCHEMA_HEAD)
        and schema_revision(engine, url) == SCHEMA_HEAD
    ):
        return
    # imported here: alembic takes longer to import than the rest of the store
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with _ALEMBIC_LOCK, engine.connect() as conn:
            conn = conn.execution_options(watcher_write=True)
            with conn.begin():
                lock(conn, "migrate")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
    except (SQLAlchemyError, CommandError) as exc:
        raise StoreError(f"cannot migrate the database {url}: {exc}") from exc


def schema_revision(engine: Engine, url: str) -> str | None:
    """The Alembic revision the database is at (None: empty database)."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(_VERSION_TABLE):
                return None
            found = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}"))
            return found.scalar()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the database {url}: {exc}") from exc
