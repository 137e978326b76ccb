"""Reviewing what moved: ``changes``, ``diff``, ``history``, ``show``."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time
from typing import Any

from rich.table import Table
from rich.text import Text

from watcher import compare
from watcher.cli._common import UsageError, document, load, store
from watcher.cli._output import (
    clean,
    console,
    heading_path,
    iso,
    print_json,
    word_diff_text,
)
from watcher.models import Change
from watcher.text import TopicMatcher

__all__ = ["add_commands"]

_SEVERITY_STYLE = {"cosmetic": "dim", "notice": "cyan", "alert": "bold red"}


def add_commands(sub: Any) -> None:
    cmd = sub.add_parser("changes", help="detected changes, newest first")
    cmd.add_argument("--platform")
    cmd.add_argument("--document", help="platform/document")
    cmd.add_argument("--topic")
    cmd.add_argument(
        "--unreviewed", action="store_true", help="only changes nobody reviewed yet"
    )
    cmd.add_argument("--limit", type=int, default=None)
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=changes)

    cmd = sub.add_parser(
        "diff", help="a change as a word-level diff, clause by clause, with headings"
    )
    cmd.add_argument("change_id", type=int, metavar="CHANGE_ID")
    cmd.add_argument(
        "--side-by-side", action="store_true", help="old and new clause in two columns"
    )
    cmd.add_argument(
        "--all", action="store_true", help="include cosmetic clause differences"
    )
    cmd.set_defaults(handler=diff)

    cmd = sub.add_parser("history", help="a document's snapshots and changes over time")
    cmd.add_argument("document", metavar="DOCUMENT")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=history)

    cmd = sub.add_parser(
        "show", help="a document's stored text, now or as it stood at a date"
    )
    cmd.add_argument("document", metavar="DOCUMENT")
    cmd.add_argument("--at", help="ISO date or datetime (UTC), e.g. 2026-05-01")
    cmd.add_argument(
        "--raw", action="store_true", help="the raw body as fetched, not the text"
    )
    cmd.set_defaults(handler=show)


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "id": change.id,
        "document": change.doc_id,
        "platform": change.platform,
        "detected_at": iso(change.detected_at),
        "severity": change.severity,
        "topics": list(change.topics),
        "summary": change.summary,
        "reviewed": change.review is not None,
        "review": change.review,
        "technical": change.technical,
        "facts": list(change.facts),
    }


def changes(args: argparse.Namespace) -> int:
    config = load(args)
    if args.document:
        document(config, args.document)
    with store(args, config) as st:
        found = st.changes(
            platform=args.platform,
            doc_id=args.document,
            topic=args.topic,
            unreviewed=args.unreviewed,
            limit=args.limit,
        )
    if args.json:
        print_json([_change_json(c) for c in found])
        return 0
    table = Table()
    for column in (
        "id",
        "detected",
        "document",
        "severity",
        "topics",
        "summary",
        "review",
    ):
        table.add_column(column)
    for c in found:
        table.add_row(
            str(c.id),
            iso(c.detected_at) or "",
            c.doc_id,
            Text(
                c.severity + (" (technical)" if c.technical else ""),
                style=_SEVERITY_STYLE[c.severity],
            ),
            ", ".join(c.topics),
            Text(clean(c.summary)),
            c.review or "-",
        )
    console().print(table)
    return 0


def diff(args: argparse.Namespace) -> int:
    config = load(args)
    with store(args, config) as st:
        change = st.change(args.change_id)
        if change is None:
            raise UsageError(f"no change {args.change_id}")
        old = st.snapshot(change.from_snapshot)
        new = st.snapshot(change.to_snapshot)
    assert old is not None
    assert new is not None
    doc = config.document(change.doc_id)
    text_diff = compare.diff_texts(
        old.text, new.text, TopicMatcher(config.settings.topics)
    )
    out = console()
    out.print(
        Text(
            f"change {change.id} · {change.doc_id} · {change.severity} · {iso(change.detected_at)}",
            style="bold",
        )
    )
    out.print(Text(clean(change.summary)))
    out.print(
        f"snapshot {old.id} ({iso(old.fetched_at)}) -> {new.id} ({iso(new.fetched_at)})"
        + (f"  {doc.url}" if doc else ""),
        style="dim",
        markup=False,
    )
    if change.facts:
        out.print(Text("facts moved: " + ", ".join(change.facts), style="yellow"))
    shown = [c for c in text_diff.clauses if args.all or not c.cosmetic]
    if not shown:
        out.print(
            "only cosmetic differences (use --all to see them)",
            style="dim",
            markup=False,
        )
    for clause in shown:
        out.print()
        label = f"{clause.kind}" + (" (cosmetic)" if clause.cosmetic else "")
        if clause.topics:
            label += " [" + ", ".join(clause.topics) + "]"
        out.print(
            Text(
                f"§ {clean(heading_path(clause.heading)) or '(no heading)'}  ",
                style="bold cyan",
            ).append(label, style="yellow")
        )
        if args.side_by_side:
            table = Table(show_header=True, expand=True)
            table.add_column("before", ratio=1)
            table.add_column("after", ratio=1)
            table.add_row(
                Text(clean(clause.old or ""), style="red"),
                Text(clean(clause.new or ""), style="green"),
            )
            out.print(table)
        else:
            out.print(word_diff_text(clause.ops))
    return 0


def history(args: argparse.Namespace) -> int:
    config = load(args)
    doc = document(config, args.document)
    with store(args, config) as st:
        snapshots = st.snapshots(doc.id)
        doc_changes = {c.to_snapshot: c for c in st.changes(doc_id=doc.id)}
        attempts = st.attempts(doc.id, limit=20)
    if args.json:
        print_json(
            {
                "document": doc.id,
                "snapshots": [
                    {
                        "id": s.id,
                        "fetched_at": iso(s.fetched_at),
                        "version_date": s.version_date,
                        "technical": s.technical,
                        "change": _change_json(doc_changes[s.id])
                        if s.id in doc_changes
                        else None,
                    }
                    for s in snapshots
                ],
                "attempts": [
                    {
                        "at": iso(a.at),
                        "outcome": a.outcome,
                        "error_kind": a.error_kind,
                        "message": a.message,
                    }
                    for a in attempts
                ],
            }
        )
        return 0
    out = console()
    table = Table(title=f"{doc.display_name} ({doc.id})")
    for column in ("snapshot", "fetched", "document date", "change"):
        table.add_column(column)
    for s in snapshots:
        c = doc_changes.get(s.id)
        table.add_row(
            str(s.id),
            iso(s.fetched_at) or "",
            clean(s.version_date or "-"),
            Text(
                f"#{c.id} {c.severity}: {clean(c.summary)}",
                style=_SEVERITY_STYLE[c.severity],
            )
            if c
            else Text("baseline" if s is snapshots[0] else "-"),
        )
    out.print(table)
    out.print(
        "recent checks: "
        + ", ".join(
            f"{iso(a.at)} {a.outcome}" + (f" ({a.error_kind})" if a.error_kind else "")
            for a in attempts[:5]
        ),
        markup=False,
    )
    return 0


def _parse_when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--at: not an ISO date or datetime: {value!r}") from None
    if len(value) == 10:  # a bare date means the end of that day
        parsed = datetime.combine(date.fromisoformat(value), time.max)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def show(args: argparse.Namespace) -> int:
    config = load(args)
    doc = document(config, args.document)
    with store(args, config) as st:
        snap = (
            st.snapshot_at(doc.id, _parse_when(args.at))
            if args.at
            else st.latest(doc.id)
        )
        if snap is None:
            raise UsageError(
                f"{doc.id} has no snapshot"
                + (f" at or before {args.at}" if args.at else "")
            )
        if args.raw:
            body = st.raw_body(snap.id)
            console().print(Text(clean(body.decode("utf-8", errors="replace"))))
            return 0
    out = console()
    out.print(
        f"{doc.id} snapshot {snap.id}, fetched {iso(snap.fetched_at)}"
        + (f", document date {snap.version_date}" if snap.version_date else ""),
        style="dim",
        markup=False,
    )
    for line in snap.text.splitlines():
        out.print(Text(clean(line), style="bold cyan" if line.startswith("#") else ""))
    return 0
