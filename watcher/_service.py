"""Process plumbing for ``watcher.daemon``: systemd readiness, the pidfile, reload, logging.

Contract:

- ``sd_notify(message)`` sends one ``sd_notify(3)`` datagram (``READY=1``, ``STOPPING=1``,
  ...) to ``$NOTIFY_SOCKET``; a no-op when it is unset, a logged warning when it fails.
- ``with pidfile(path):`` writes our PID to ``path`` (atomically, warning when it named
  another live process) and removes it on exit if it still holds our PID; ``None`` does
  nothing.
- ``reload_running(pidfile)`` sends SIGHUP to the PID in ``pidfile``; raises
  ``WatcherError`` when the pidfile is missing or unreadable or its process is gone.
- ``ensure_logging(log_json)`` logs to stderr (journald), as JSON lines if asked, only when
  no logging is configured yet.

Nothing else here raises. Log lines go to the ``watcher.daemon`` logger, as before this
module was split out of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from watcher.errors import WatcherError

__all__ = ["ensure_logging", "pidfile", "reload_running", "sd_notify"]

# the daemon's logger: these lines read as they did when this code lived in watcher.daemon
logger = logging.getLogger("watcher.daemon")


def reload_running(pidfile: Path) -> None:
    """Ask the daemon whose PID is in ``pidfile`` to re-read its config (SIGHUP).

    Raises ``WatcherError`` when the pidfile is missing or unreadable or its process is gone.
    """
    try:
        pid = int(pidfile.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise WatcherError(
            f"no pidfile at {pidfile}: is `watcher run` running?"
        ) from None
    except (OSError, ValueError) as exc:
        raise WatcherError(f"cannot read the pidfile {pidfile}: {exc}") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise WatcherError(
            f"no process {pid} (stale pidfile {pidfile}): is `watcher run` running?"
        ) from None
    except PermissionError:
        raise WatcherError(
            f"not allowed to signal process {pid}; run as the daemon's user "
            "(under systemd: systemctl reload watcher)"
        ) from None


def sd_notify(message: str) -> None:
    """Tell systemd (``Type=notify``) about our state; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        logger.warning("cannot notify systemd: %s", exc)


@contextlib.contextmanager
def pidfile(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    pid = str(os.getpid())
    with contextlib.suppress(OSError, ValueError):
        other = int(path.read_text(encoding="ascii").strip())
        if other != os.getpid() and _alive(other):
            logger.warning(
                "pidfile %s names running process %d; replacing it", path, other
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{pid}")
    tmp.write_text(pid + "\n", encoding="ascii")
    os.replace(tmp, path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text(encoding="ascii").strip() == pid:
                path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def ensure_logging(log_json: bool) -> None:
    """Log to stderr (journald) when nothing is configured; the CLI configures its own."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        _JsonFormatter()
        if log_json
        else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("watcher").setLevel(logging.INFO)
