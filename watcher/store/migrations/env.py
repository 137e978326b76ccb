"""Alembic environment: migrates the connection ``SnapshotStore`` hands over.

``SnapshotStore.migrate`` puts an open connection in ``config.attributes["connection"]``;
without one (running the ``alembic`` tool by hand) the URL comes from the
``sqlalchemy.url`` option. Offline (SQL script) mode is not supported and raises
``RuntimeError``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

__all__: list[str] = []


def _run(connection: Connection) -> None:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("policy-watcher migrations run online only")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url to migrate")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


_main()
