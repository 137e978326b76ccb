"""Snapshot files: writing them atomically, reading them back, sweeping the orphans.

A snapshot's files live under ``<root>/<platform>/<document>/<UTC stamp>-<sha[:12]>``: the
extracted text (``.txt``, ``.txt.zst`` over 16 KB) and the zstd-compressed raw body
(``.raw.zst``). Snapshots written before zstd have ``.raw.gz``/``.txt.gz`` files; they are
read by their suffix, as they always were.
``write_files`` never overwrites a file: a name in use gets a counter. Every file is written
to a temporary file in the same directory, fsynced, published under its name, and the
directory is fsynced. ``read_text`` checks the text against the row's hash.

Raises ``StoreError`` when a file cannot be written, read or swept, or a text does not match
its hash.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import logging
import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard

from watcher.errors import StoreError
from watcher.store._tables import SnapshotRow

__all__ = [
    "TEXT_COMPRESS_OVER",
    "ZSTD_LEVEL",
    "SnapshotFiles",
    "read_raw",
    "read_text",
    "sweep",
    "write_files",
]

# the package's logger, which these lines went to before the store became a package
logger = logging.getLogger("watcher.store")

# Texts above this size are compressed (zstd keeps 31% of the corpus's texts, at 0.6 ms per
# 100 KB); a short one (a help article) stays plain, readable without `watcher show`.
TEXT_COMPRESS_OVER = 16 * 1024
# zstd level 3 on the corpus's real pages: 13.7% of the bytes at 0.21 ms per 100 KB, where
# gzip took 1.1 ms for 16.4% (level 5) and 2.8 ms for 16.0% (level 9)
ZSTD_LEVEL = 3
# what write_files names files (and earlier versions named them): stamp, text hash, a
# counter on a clash, suffix
_FILE_NAME = re.compile(
    r"\d{8}T\d{6}Z-[0-9a-f]{12}(-\d+)?\.(raw\.zst|raw\.gz|txt|txt\.zst|txt\.gz)"
)
_TEMP_NAME = re.compile(r"\..*\.tmp")


class SnapshotFiles:
    """Paths (relative to the snapshots directory) of one snapshot's new files."""

    __slots__ = ("raw_path", "text_path", "text_size")

    def __init__(self, text_path: str, text_size: int, raw_path: str | None) -> None:
        self.text_path = text_path
        self.text_size = text_size
        self.raw_path = raw_path

    def remove(self, root: Path) -> None:
        """Delete files that turned out not to be needed (best effort: orphans are harmless)."""
        for rel in (self.text_path, self.raw_path):
            if rel is not None:
                with contextlib.suppress(OSError):
                    (root / rel).unlink()


def write_files(
    root: Path, doc_id: str, at: datetime, text: str, body: bytes | None
) -> SnapshotFiles:
    """Write the text (and raw body) files atomically; return their relative paths."""
    platform, document = doc_id.split("/", 1)
    directory = root / platform / document
    data = text.encode("utf-8")
    text_suffix = ".txt.zst" if len(data) > TEXT_COMPRESS_OVER else ".txt"
    stem = f"{at.strftime('%Y%m%dT%H%M%SZ')}-{hashlib.sha256(data).hexdigest()[:12]}"
    size = len(data)
    if text_suffix == ".txt.zst":
        data = zstandard.compress(data, ZSTD_LEVEL)
    raw = None if body is None else zstandard.compress(body, ZSTD_LEVEL)
    try:
        _make_dirs(root, directory)
        # The text file claims the name; a name in use (same second, same text: another
        # process, or a text that came back) gets a counter. Never overwrite a file.
        n = 1
        while True:
            name = stem if n == 1 else f"{stem}-{n}"
            text_file = directory / f"{name}{text_suffix}"
            if _write_new(text_file, data):
                if raw is None or _write_new(directory / f"{name}.raw.zst", raw):
                    break
                text_file.unlink()
            n += 1
        _fsync_dir(directory)
    except OSError as exc:
        raise StoreError(f"{doc_id}: cannot write snapshot files: {exc}") from exc
    rel = f"{platform}/{document}/{name}"
    return SnapshotFiles(
        f"{rel}{text_suffix}", size, None if raw is None else f"{rel}.raw.zst"
    )


def read_text(root: Path, row: SnapshotRow) -> str:
    """The snapshot's text, checked against its hash."""
    path = root / row.text_path
    try:
        data = _decompress(path.name, path.read_bytes())
        text = data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, zstandard.ZstdError) as exc:
        raise StoreError(f"snapshot #{row.id}: cannot read {path}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != row.text_sha256:
        raise StoreError(f"snapshot #{row.id}: {path} does not match its hash")
    return text


def read_raw(root: Path, row: SnapshotRow) -> bytes:
    """The snapshot's raw body, decompressed."""
    if row.raw_path is None:
        raise StoreError(f"snapshot #{row.id} has no raw body")
    path = root / row.raw_path
    try:
        return _decompress(path.name, path.read_bytes())
    except (OSError, EOFError, zstandard.ZstdError) as exc:
        raise StoreError(f"snapshot #{row.id}: cannot read {path}: {exc}") from exc


def _decompress(name: str, data: bytes) -> bytes:
    """The content of a snapshot file named ``name`` (by its suffix: .zst, .gz or plain)."""
    if name.endswith(".zst"):
        return zstandard.decompress(data)
    if name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def sweep(root: Path, used: set[str], older_than: timedelta) -> int:
    """Delete snapshot and temporary files under ``root`` not in ``used``; returns how many.

    ``used`` holds paths relative to ``root``. Only files older than ``older_than`` go.
    """
    cutoff = datetime.now(UTC).timestamp() - older_than.total_seconds()
    removed = 0
    try:
        for path in root.glob("*/*/*"):
            name = path.name
            ours = _FILE_NAME.fullmatch(name) or _TEMP_NAME.fullmatch(name)
            rel = path.relative_to(root).as_posix()
            if not ours or rel in used or not path.is_file():
                continue
            if path.stat().st_mtime > cutoff:
                continue
            path.unlink()
            removed += 1
            logger.info("removed orphan snapshot file %s", rel)
    except OSError as exc:
        raise StoreError(f"cannot sweep {root}: {exc}") from exc
    return removed


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``path`` atomically unless it exists (then False): temp file, fsync, publish.

    Publishing is ``os.link``, which, unlike ``os.replace``, fails on an existing name; on a
    filesystem without hard links it falls back to a check and ``os.replace``.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(root: Path, directory: Path) -> None:
    """Create ``directory`` under ``root``, syncing each parent a new entry was added to."""
    missing = []
    current = directory
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        _fsync_dir(path.parent)
