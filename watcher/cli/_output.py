"""Terminal and JSON output shared by the subcommands.

Page text is untrusted: ``clean`` strips terminal control sequences before anything from a web
page reaches the terminal, and rich markup is never interpreted in it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from watcher.text import strip_controls

__all__ = [
    "clean",
    "console",
    "err_console",
    "heading_path",
    "iso",
    "print_json",
    "word_diff_text",
]


def clean(text: str) -> str:
    """``text`` with terminal control sequences and control characters removed."""
    return strip_controls(text)


def console() -> Console:
    """stdout console: colour only on a terminal and never with NO_COLOR (rich checks both)."""
    return Console(highlight=False, soft_wrap=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, seconds precision, with a Z."""
    if value is None:
        return None
    return (
        value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def heading_path(heading: Sequence[str]) -> str:
    return " > ".join(h for h in heading if h)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def word_diff_text(ops: Sequence[Sequence[Any]]) -> Text:
    """A rich Text of a word diff: removed words red and struck, added words green."""
    out = Text()
    for op, chunk in ops:
        chunk = clean(str(chunk))
        if op < 0:
            out.append("[-" + chunk + "-]", style="red strike")
        elif op > 0:
            out.append("{+" + chunk + "+}", style="green bold")
        else:
            out.append(chunk)
    return out
