"""``validate`` and ``extract``: look at the config and at what a rule pulls out of a page."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table
from rich.text import Text

from watcher.cli._common import document, load
from watcher.cli._output import clean, console, heading_path, print_json
from watcher.extract import extract
from watcher.fetch import fetch_one, result_from_file
from watcher.models import Config, Document
from watcher.text import TopicMatcher, split_clauses

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    cmd = sub.add_parser(
        "validate", help="load and check all config; print what would be watched"
    )
    cmd.set_defaults(handler=validate)

    cmd = sub.add_parser(
        "extract",
        help="fetch (or read) one document and print its clauses; stores nothing",
        description="Like urlwatch's --test-filter: shows exactly what the extraction rule sees.",
    )
    cmd.add_argument("document", help="platform/document, e.g. midjourney/terms")
    cmd.add_argument(
        "--file",
        type=argparse.FileType("rb"),
        help="extract a saved page instead of fetching",
    )
    cmd.add_argument(
        "--json", action="store_true", help='a list of {"heading", "text", "topics"}'
    )
    cmd.set_defaults(handler=extract_command)


def validate(args: argparse.Namespace) -> int:
    config = load(args)
    out = console()
    table = Table(
        title=f"{len(config.documents())} documents, {len(config.facts())} facts"
    )
    for column in ("document", "type", "format", "every", "url"):
        table.add_column(column)
    for doc in config.documents():
        table.add_row(doc.id, doc.type, doc.format, _schedule(config, doc), doc.url)
    out.print(table)
    for platform in config.platforms:
        out.print(
            f"{platform.id}: {platform.name}, {len(platform.documents)} documents, "
            f"{len(platform.facts)} facts",
            markup=False,
        )
    channels = config.settings.notify.channels
    out.print(
        f"notify: {len(channels)} channel(s)"
        + (": " + ", ".join(c.name for c in channels) if channels else ""),
        markup=False,
    )
    out.print("config OK", style="green")
    return 0


def _schedule(config: Config, doc: Document) -> str:
    if doc.cron:
        return f"cron {doc.cron}"
    every = doc.every or config.settings.schedule.every
    return str(every)


def extract_command(args: argparse.Namespace) -> int:
    config = load(args)
    doc = document(config, args.document)
    if args.file is not None:
        with args.file as handle:
            body = handle.read()
        fetched = result_from_file(doc, body)
    else:
        fetched = fetch_one(config.settings.fetch, doc)
    extracted = extract(doc, fetched)
    clauses = split_clauses(extracted.blocks, TopicMatcher(config.settings.topics))
    if args.json:
        print_json(
            [
                {
                    "heading": heading_path(c.heading),
                    "text": c.text,
                    "topics": list(c.topics),
                }
                for c in clauses
            ]
        )
        return 0
    out = console()
    last_heading: tuple[str, ...] | None = None
    for clause in clauses:
        if clause.heading != last_heading:
            out.print(
                Text(
                    clean(heading_path(clause.heading)) or "(no heading)",
                    style="bold cyan",
                )
            )
            last_heading = clause.heading
        line = Text("  ")
        if clause.topics:
            line.append("[" + ", ".join(clause.topics) + "] ", style="yellow")
        line.append(clean(clause.text))
        out.print(line)
    out.print(
        f"{len(clauses)} clauses, {len(extracted.text)} chars"
        + (
            f", document date: {clean(extracted.version_date)}"
            if extracted.version_date
            else ""
        ),
        style="dim",
        markup=False,
    )
    return 0
