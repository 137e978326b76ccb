"""The guide's table rebuilt from verdicts: right cells, dates, guide claims, and inert page text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

from watcher.models import (
    Config,
    Document,
    Evidence,
    EvidencePattern,
    Fact,
    Platform,
    Quote,
    Settings,
    StoredVerdict,
    Verdict,
)
from watcher.report import build_report, render_html, render_markdown

HOSTILE = (
    'Stealth is <script>alert("x")</script> for Pro \x1b[31mand\x1b[0m Mega | only'
)
CHECKED = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def _config() -> Config:
    doc = Document(
        "midjourney",
        "terms",
        "Midjourney",
        "terms_of_service",
        "https://example.test/terms",
    )
    stealth = Fact(
        platform="midjourney",
        name="stealth-pro-mega-only",
        topic="private_mode",
        claim="Stealth Mode is sold only with Pro and Mega.",
        evidence=Evidence(all_of=(EvidencePattern("terms", "stealth"),)),
        plans=("Pro", "Mega"),
        guide_claim="Stealth Mode (Pro $60/month or Mega $120/month) prevents gallery visibility.",
        quote=Quote("terms", "If You purchased the Stealth feature"),
        verdict_vs_guide="confirms",
    )
    law = Fact(
        platform="midjourney",
        name="jurisdiction-california",
        topic="jurisdiction",
        claim="Governed by California law.",
        evidence=Evidence(all_of=(EvidencePattern("terms", "california"),)),
        plans=("Basic",),
        guide_claim="US-incorporated.",
        verdict_vs_guide="partially_confirms",
    )
    platform = Platform("midjourney", "Midjourney", (doc,), (stealth, law))
    return Config(Settings(), (platform,), Path("."))


def _verdicts() -> dict[str, StoredVerdict]:
    stealth = Verdict(
        "midjourney.stealth-pro-mega-only",
        "broken",
        ("none_of[0] (terms) HIT",),
        evidence=HOSTILE,
        evidence_heading=("4. Rights", "Stealth"),
        evidence_doc="terms",
    )
    return {stealth.fact_id: StoredVerdict(stealth, CHECKED, CHECKED, (1,))}


def test_html_report_is_a_table_with_inert_page_text() -> None:
    report = build_report(
        _config(), _verdicts(), {"midjourney/terms": "June 23, 2025"}, CHECKED
    )
    page = render_html(report)
    tree = LexborHTMLParser(page)
    assert tree.css("script") == []  # the hostile clause did not become markup
    assert "\x1b" not in page
    headers = [th.text(strip=True) for th in tree.css("thead th")]
    assert headers[:3] == ["Platform", "Plans", "Gallery default"]
    row = tree.css("tbody tr")[0]
    cells = {td.attributes.get("data-label"): td for td in row.css("td")}
    assert cells["Platform"].text(strip=True) == "Midjourney"
    assert cells["Plans"].text(strip=True) == "Pro, Mega, Basic"
    private = cells["Private mode (plan)"]
    assert _text(private, ".v") == "broken"
    assert '<script>alert("x")</script>' in _text(private, "blockquote")
    assert "document date June 23, 2025" in private.text()
    assert "checked 2026-11-20 08:30 UTC" in private.text()
    assert "midjourney/terms > 4. Rights > Stealth" in private.text()
    # the guide's claim is shown only where it differs from the vendor's text
    assert "Guide says" not in private.text()
    law = cells["Jurisdiction"]
    assert _text(law, ".v") == "unknown"
    assert "Guide says: US-incorporated." in law.text()
    assert tree.css_first('meta[name="viewport"]') is not None


def _text(node: LexborNode, selector: str) -> str:
    found = node.css_first(selector)
    assert found is not None, selector
    return found.text()


def test_markdown_report_escapes_table_breaking_text() -> None:
    report = build_report(_config(), _verdicts(), {}, CHECKED)
    text = render_markdown(report)
    table_rows = [line for line in text.splitlines() if line.startswith("| Midjourney")]
    assert len(table_rows) == 1
    # 2 + 6 columns -> 9 unescaped pipes; the clause's own pipe is escaped
    assert table_rows[0].replace("\\|", "").count("|") == 9
    assert "<script>" not in text
    assert "\x1b" not in text
