"""What several subcommands share: loading config, opening the runtime, resolving names."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from watcher.config import load_config
from watcher.models import Config, Document
from watcher.pipeline import Runtime, open_runtime
from watcher.store import SnapshotStore

__all__ = ["UsageError", "document", "load", "runtime", "store"]


class UsageError(Exception):
    """A name on the command line that does not exist (exit 2)."""


def load(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def document(config: Config, doc_id: str) -> Document:
    doc = config.document(doc_id)
    if doc is None:
        known = ", ".join(d.id for d in config.documents())
        raise UsageError(f"no document '{doc_id}' (known: {known})")
    return doc


@contextmanager
def runtime(
    args: argparse.Namespace, config: Config, *, notify: bool = True
) -> Iterator[Runtime]:
    with open_runtime(config, db_url=args.db, notify=notify) as rt:
        yield rt


@contextmanager
def store(args: argparse.Namespace, config: Config) -> Iterator[SnapshotStore]:
    settings = config.settings.storage
    opened = SnapshotStore(args.db or settings.url, settings.snapshots_dir)
    try:
        yield opened
    finally:
        opened.close()
