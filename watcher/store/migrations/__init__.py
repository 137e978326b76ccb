"""Alembic migrations of the store, run programmatically by ``SnapshotStore.migrate``.

``script_location`` is this package directory; there is no alembic.ini. Revisions live in
``versions/`` and are named ``0001``, ``0002``, ... in order.
"""

from __future__ import annotations

__all__: list[str] = []
