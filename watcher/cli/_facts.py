"""Facts and their use: ``facts``, ``review`` (of a change or a fact), ``report``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.text import Text

from watcher import report
from watcher.cli._common import UsageError, load, store
from watcher.cli._output import (
    clean,
    console,
    heading_path,
    iso,
    print_json,
    word_diff_text,
)
from watcher.models import Config, Fact

__all__ = ["add_commands"]

_VERDICT_STYLE = {
    "holds": "green",
    "changed": "yellow",
    "broken": "bold red",
    "unknown": "dim",
}


def add_commands(sub: Any) -> None:
    cmd = sub.add_parser(
        "facts", help="every curated fact with its verdict and current evidence"
    )
    cmd.add_argument("--platform")
    cmd.add_argument("--topic")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=facts)

    cmd = sub.add_parser(
        "review", help="record the review of a change, or re-baseline a fact"
    )
    cmd.add_argument("change_id", type=int, nargs="?", metavar="CHANGE_ID")
    cmd.add_argument(
        "--fact",
        metavar="FACT_ID",
        help="re-baseline this fact's quote to the current clause",
    )
    decision = cmd.add_mutually_exclusive_group(required=True)
    decision.add_argument("--accept", action="store_true")
    decision.add_argument("--dismiss", action="store_true")
    cmd.add_argument("--note")
    cmd.set_defaults(handler=review)

    cmd = sub.add_parser(
        "report", help="the guide's comparison table, rebuilt from current facts"
    )
    cmd.add_argument("--format", choices=["md", "html"], default="md")
    cmd.add_argument(
        "-o", "--output", type=Path, help="write to FILE instead of stdout"
    )
    cmd.set_defaults(handler=report_command)


def _fact_matches(fact: Fact, args: argparse.Namespace) -> bool:
    return (args.platform is None or fact.platform == args.platform) and (
        args.topic is None or fact.topic == args.topic
    )


def facts(args: argparse.Namespace) -> int:
    config = load(args)
    with store(args, config) as st:
        verdicts = st.current_verdicts()
        versions = _version_dates(config, st)
    rows: list[dict[str, Any]] = []
    for fact in config.facts():
        if not _fact_matches(fact, args):
            continue
        stored = verdicts.get(fact.id)
        verdict = stored.verdict if stored else None
        doc_name = (verdict.evidence_doc if verdict else None) or (
            fact.documents() or ("",)
        )[0]
        doc_id = f"{fact.platform}/{doc_name}"
        rows.append(
            {
                "id": fact.id,
                "platform": fact.platform,
                "topic": fact.topic,
                "claim": fact.claim,
                "document": doc_id,
                "verdict": verdict.verdict if verdict else "unknown",
                "evidence": {
                    "text": verdict.evidence if verdict else None,
                    "heading": heading_path(verdict.evidence_heading)
                    if verdict
                    else None,
                    "document_date": versions.get(doc_id),
                    "closeness": verdict.closeness if verdict else None,
                },
                "reasons": list(verdict.reasons)
                if verdict
                else ["never evaluated: run `watcher check`"],
                "quote_diff": [list(op) for op in verdict.quote_diff]
                if verdict
                else [],
                "since": iso(stored.since) if stored else None,
                "checked_at": iso(stored.checked_at) if stored else None,
                "guide_claim": fact.guide_claim,
                "verdict_vs_guide": fact.verdict_vs_guide,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    out = console()
    for row in rows:
        line = Text(f"{row['verdict']:8} ", style=_VERDICT_STYLE[row["verdict"]])
        line.append(f"{row['id']}", style="bold")
        line.append(f"  ({row['topic']}, since {row['since'] or '-'})", style="dim")
        out.print(line)
        out.print(Text(f"    claim: {row['claim']}"))
        if row["guide_claim"]:
            out.print(
                Text(
                    f"    guide: {row['guide_claim']} [{row['verdict_vs_guide'] or 'unverified'}]",
                    style="dim",
                )
            )
        evidence = row["evidence"]
        if evidence["text"]:
            where = (
                f"{row['document']} > {evidence['heading']}"
                if evidence["heading"]
                else row["document"]
            )
            dated = (
                f" (document date {evidence['document_date']})"
                if evidence["document_date"]
                else ""
            )
            out.print(
                Text(
                    f"    evidence [{clean(where)}{clean(dated)}]: {clean(evidence['text'])}"
                )
            )
        if row["verdict"] in ("changed", "broken"):
            for reason in row["reasons"]:
                out.print(
                    Text(f"    - {clean(reason)}", style=_VERDICT_STYLE[row["verdict"]])
                )
            if row["quote_diff"]:
                out.print(
                    Text("    quote -> now: ").append(word_diff_text(row["quote_diff"]))
                )
    return 0


def _version_dates(config: Config, st: Any) -> dict[str, str | None]:
    dates: dict[str, str | None] = {}
    for doc in config.documents():
        latest = st.latest(doc.id)
        dates[doc.id] = latest.version_date if latest else None
    return dates


def review(args: argparse.Namespace) -> int:
    config = load(args)
    now = datetime.now(UTC)
    out = console()
    if args.fact:
        if args.dismiss:
            raise UsageError("review --fact takes --accept (re-baseline the quote)")
        fact = next((f for f in config.facts() if f.id == args.fact), None)
        if fact is None:
            raise UsageError(f"no fact '{args.fact}'")
        with store(args, config) as st:
            stored = st.current_verdicts().get(fact.id)
            if stored is None or not stored.verdict.evidence:
                raise UsageError(
                    f"{fact.id} has no current evidence clause; run `watcher check` first"
                )
            st.set_fact_baseline(fact.id, stored.verdict.evidence, now)
        out.print(
            Text(f"{fact.id}: quote re-baselined to: {clean(stored.verdict.evidence)}")
        )
        return 0
    if args.change_id is None:
        raise UsageError("review needs a CHANGE_ID or --fact FACT_ID")
    with store(args, config) as st:
        if st.change(args.change_id) is None:
            raise UsageError(f"no change {args.change_id}")
        change = st.review(
            args.change_id,
            "accepted" if args.accept else "dismissed",
            note=args.note,
            at=now,
        )
    out.print(f"change {change.id}: {change.review}", markup=False)
    return 0


def report_command(args: argparse.Namespace) -> int:
    config = load(args)
    with store(args, config) as st:
        verdicts = st.current_verdicts()
        dates = _version_dates(config, st)
    built = report.build_report(config, verdicts, dates, datetime.now(UTC))
    rendered = (
        report.render_html(built)
        if args.format == "html"
        else report.render_markdown(built)
    )
    if args.output is None:
        sys.stdout.write(rendered)
    else:
        args.output.write_text(rendered, encoding="utf-8")
        console().print(f"wrote {args.output}", markup=False)
    return 0
