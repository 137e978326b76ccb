"""The guide's "private generation by platform and plan" table, rebuilt from current verdicts.

``build_report`` gathers, per platform and topic, the curated facts with their verdicts, the
evidence clause, the document's own date and when it was last checked; ``render_markdown`` and
``render_html`` turn that into a document. Pure: the caller reads the store. Every piece of page
text is escaped for the output format (HTML entities; Markdown table pipes and markup).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from watcher.models import Config, Fact, StoredVerdict
from watcher.text import strip_controls

__all__ = [
    "REPORT_TOPICS",
    "Cell",
    "Report",
    "Row",
    "build_report",
    "render_html",
    "render_markdown",
]

# Columns of the guide's comparison, in its order.
REPORT_TOPICS: tuple[tuple[str, str], ...] = (
    ("gallery_default", "Gallery default"),
    ("private_mode", "Private mode (plan)"),
    ("training_use", "Training / service improvement"),
    ("retention", "Retention"),
    ("jurisdiction", "Jurisdiction"),
    ("pricing", "Price"),
)


@dataclass(frozen=True, slots=True)
class Cell:
    fact_id: str
    claim: str
    verdict: str
    evidence: str | None
    evidence_where: str | None  # "platform/document > heading path"
    document_date: str | None
    checked_at: datetime | None
    guide_claim: str | None  # shown when the guide says something else
    verdict_vs_guide: str | None


@dataclass(frozen=True, slots=True)
class Row:
    platform: str
    plans: tuple[str, ...]
    cells: dict[str, tuple[Cell, ...]]


@dataclass(frozen=True, slots=True)
class Report:
    rows: tuple[Row, ...]
    generated_at: datetime


def build_report(
    config: Config,
    verdicts: Mapping[str, StoredVerdict],
    document_dates: Mapping[str, str | None],
    generated_at: datetime,
) -> Report:
    rows = []
    for platform in config.platforms:
        if not platform.facts:
            continue
        plans: dict[str, None] = {}
        cells: dict[str, list[Cell]] = {}
        for fact in platform.facts:
            plans.update(dict.fromkeys(fact.plans))
            cells.setdefault(fact.topic, []).append(
                _cell(fact, verdicts.get(fact.id), document_dates)
            )
        rows.append(
            Row(platform.name, tuple(plans), {k: tuple(v) for k, v in cells.items()})
        )
    return Report(tuple(rows), generated_at)


def _cell(
    fact: Fact, stored: StoredVerdict | None, dates: Mapping[str, str | None]
) -> Cell:
    verdict = stored.verdict if stored else None
    doc = (verdict.evidence_doc if verdict else None) or (fact.documents() or ("",))[0]
    doc_id = f"{fact.platform}/{doc}"
    heading = " > ".join(h for h in (verdict.evidence_heading if verdict else ()) if h)
    differs = fact.guide_claim is not None and fact.verdict_vs_guide != "confirms"
    return Cell(
        fact_id=fact.id,
        claim=fact.claim,
        verdict=verdict.verdict if verdict else "unknown",
        evidence=(verdict.evidence if verdict else None)
        or (fact.quote.text if fact.quote else None),
        evidence_where=f"{doc_id} > {heading}" if heading else doc_id,
        document_date=dates.get(doc_id),
        checked_at=stored.checked_at if stored else None,
        guide_claim=fact.guide_claim if differs else None,
        verdict_vs_guide=fact.verdict_vs_guide,
    )


def _stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


# --------------------------------------------------------------------------- markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _md(text: str) -> str:
    """Page text made inert in a Markdown table cell."""
    flat = " ".join(strip_controls(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def _md_cell(cells: Sequence[Cell]) -> str:
    if not cells:
        return "—"
    parts = []
    for cell in cells:
        part = f"**{cell.verdict}**: {_md(cell.claim)}"
        if cell.evidence:
            part += (
                f"<br>“{_md(_clip(cell.evidence))}” ({_md(cell.evidence_where or '')}"
            )
            part += (
                f", document date {_md(cell.document_date)}"
                if cell.document_date
                else ""
            )
            part += f", checked {_stamp(cell.checked_at)})"
        if cell.guide_claim:
            part += f"<br>*Guide says:* {_md(cell.guide_claim)} ({_md(cell.verdict_vs_guide or 'unverified')})"
        parts.append(part)
    return "<br><br>".join(parts)


def render_markdown(report: Report) -> str:
    lines = [
        "# Private generation by platform and plan",
        "",
        f"Rebuilt by policy-watcher from the vendors' current text on {_stamp(report.generated_at)}.",
        "Each cell: the verdict of our curated fact, the vendor's clause, its document date and the last check.",
        "",
        "| Platform | Plans | "
        + " | ".join(title for _, title in REPORT_TOPICS)
        + " |",
        "| --- | --- | " + " | ".join("---" for _ in REPORT_TOPICS) + " |",
    ]
    for row in report.rows:
        cells = [_md_cell(row.cells.get(topic, ())) for topic, _ in REPORT_TOPICS]
        lines.append(
            f"| {_md(row.platform)} | {_md(', '.join(row.plans))} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- html

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;color:#111;background:#fff}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.5rem;vertical-align:top;text-align:left}
th{background:#f3f3f3}.v{font-weight:700;text-transform:uppercase;font-size:.75rem;padding:.1rem .3rem;border-radius:3px}
.holds{background:#d8f5d0}.changed{background:#fff1b8}.broken{background:#ffd0d0}.unknown{background:#e6e6e6}
blockquote{margin:.3rem 0;padding-left:.5rem;border-left:3px solid #bbb;color:#333}
.meta{color:#555;font-size:.8rem}.guide{color:#8a1c1c;font-size:.85rem}.fact{margin-bottom:.8rem}
@media (max-width:700px){table,thead,tbody,tr,th,td{display:block}thead{display:none}
td{border:none;border-bottom:1px solid #eee}td::before{content:attr(data-label);display:block;font-weight:700}
tr{border:1px solid #ccc;margin-bottom:1rem}}
@media print{body{margin:0;font-size:10pt}tr{break-inside:avoid}}
"""


def _html_cell(cells: Sequence[Cell]) -> str:
    if not cells:
        return "—"
    parts = []
    for cell in cells:

        def e(text: str) -> str:
            return html.escape(strip_controls(text))

        part = f'<div class="fact"><span class="v {e(cell.verdict)}">{e(cell.verdict)}</span> {e(cell.claim)}'
        if cell.evidence:
            part += f"<blockquote>{e(_clip(cell.evidence))}</blockquote>"
            meta = e(cell.evidence_where or "")
            if cell.document_date:
                meta += f" · document date {e(cell.document_date)}"
            meta += f" · checked {e(_stamp(cell.checked_at))}"
            part += f'<div class="meta">{meta}</div>'
        if cell.guide_claim:
            part += (
                f'<div class="guide">Guide says: {e(cell.guide_claim)} '
                f"({e(cell.verdict_vs_guide or 'unverified')})</div>"
            )
        parts.append(part + "</div>")
    return "".join(parts)


def render_html(report: Report) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in REPORT_TOPICS)
    body = []
    for row in report.rows:
        cells = "".join(
            f'<td data-label="{html.escape(title)}">{_html_cell(row.cells.get(topic, ()))}</td>'
            for topic, title in REPORT_TOPICS
        )
        body.append(
            f'<tr><td data-label="Platform"><strong>{html.escape(row.platform)}</strong></td>'
            f'<td data-label="Plans">{html.escape(", ".join(row.plans))}</td>{cells}</tr>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Private generation by platform and plan</title><style>{_CSS}</style></head><body>"
        "<h1>Private generation by platform and plan</h1>"
        f'<p class="meta">Rebuilt by policy-watcher from the vendors\' current text on '
        f"{html.escape(_stamp(report.generated_at))}.</p>"
        f"<table><thead><tr><th>Platform</th><th>Plans</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></body></html>\n"
    )
