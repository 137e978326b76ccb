"""``watcher`` command line: thin shells over the library, one function per subcommand.

The only place that prints or configures logging. Exit codes: 0 ok, 1 a runtime failure (a
document failed, the store broke, something is overdue), 2 a usage or config error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from watcher import __version__
from watcher.cli import _check, _facts, _review, _setup
from watcher.cli._common import UsageError
from watcher.errors import ConfigError, WatcherError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher",
        description="Watch vendors' terms, privacy and plan pages; diff them; check curated facts; alert.",
    )
    parser.add_argument(
        "--version", action="version", version=f"policy-watcher {__version__}"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config directory (default: $WATCHER_CONFIG or ./config)",
    )
    parser.add_argument(
        "--db", default=None, help="database URL (default: $WATCHER_DB or storage.url)"
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="stderr log lines (json for log shippers)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output (-vv for debug)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _setup.add_commands(sub)
    _check.add_commands(sub)
    _review.add_commands(sub)
    _facts.add_commands(sub)
    return parser


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _setup_logging(log_format: str, verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        # journald adds its own timestamp; the level name keeps lines greppable.
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    level = (
        logging.DEBUG
        if verbose > 1
        else logging.INFO
        if verbose == 1
        else logging.WARNING
    )
    logging.getLogger("watcher").setLevel(level)
    # httpx logs request URLs and apprise logs service URLs, which can carry secrets. apprise
    # still records its warnings for our NotifyError messages (secrets stripped there), so it
    # keeps its level but never reaches our handlers.
    logging.getLogger("apprise").propagate = False
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.log_format, args.verbose)
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        print("config error:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"watcher: {exc}", file=sys.stderr)
        return 2
    except WatcherError as exc:  # fetch, extract, store, notify: a runtime failure
        print(f"watcher: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
