"""The shipped platform pack (config/) against its local mirror (tests/data/site/).

For every shipped document, the mirror file (the real site's shape: Zendesk API JSON, Intercom
article page, Shopify policy page, Next.js page, GitBook Markdown) is extracted with that
document's own rules: it must give at least ``min_chars``, none of the page's noise, and the
document's date where a ``version_marker`` is declared. For every shipped fact, each evidence
pattern compiles and, run on the normalised lower-cased mirror text, gives the outcome that
``expected_verdicts.yaml`` calls for; ``evaluate`` agrees. Mutations of the mirror then show the
pack is tolerant of known spelling variants and cosmetic noise, but that a real change breaks
the fact that describes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

from watcher.config import load_config
from watcher.errors import ExtractError
from watcher.evaluate import evaluate
from watcher.extract import extract
from watcher.fetch import result_from_file
from watcher.models import (
    Config,
    Document,
    Extracted,
    Fact,
)
from watcher.text import TopicMatcher, normalise

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "config"
SITE = Path(__file__).parent / "data" / "site"
EXPECTED = SITE / "expected_verdicts.yaml"

EXTENSIONS = {"json": "json", "markdown": "md", "text": "txt", "html": "html"}

_ZENDESK = ['"html_url"', '"edited_at"', "theming_assets", "<p>", "</p>"]
_LEONARDO_SITE = [
    "introducing nano banana",
    "we use cookies to improve your experience",
    "accept all cookies",
    "launch app",
    "get started for free",
    "__next_data__",
    "googletagmanager",
    "all rights reserved",
]
_INTERCOM = [
    "written by",
    "updated over a week ago",
    "did this answer your question",
    "related articles",
    "search for articles",
    "all collections",
    "we run on intercom",
    "intercomsettings",
    "__next_data__",
]
_IDEOGRAM_SITE = [
    "we use cookies and similar technologies to run this site",
    "sign up",
    "© 2026 ideogram ai",
    "__next_data__",
    "gtag(",
]
_GITBOOK = ["for the complete documentation index", "{% hint", "{% endhint", "**", "]("]
_SHOPIFY = [
    "skip to content",
    "create amazing ai art for free",
    "shop prints",
    "subscribe to our emails",
    "powered by shopify",
    "this website uses cookies",
    "manage preferences",
    "shopifyanalytics",
    "var shopify",
]

# Page furniture each mirror file carries (checked to be there) and its extraction must not.
NOISE: dict[str, list[str]] = {
    **{
        f"midjourney/{name}": _ZENDESK
        for name in (
            "terms",
            "privacy",
            "guidelines",
            "stealth-help",
            "private-help",
            "deletion-faq",
            "plans",
            "commercial-help",
        )
    },
    "leonardo/terms": [*_LEONARDO_SITE, "jump to section", "back to top"],
    "leonardo/privacy": [*_LEONARDO_SITE, "jump to section", "back to top"],
    "leonardo/pricing": [*_LEONARDO_SITE, "save 20%"],
    "leonardo/private-public-help": _INTERCOM,
    "leonardo/visibility-help": _INTERCOM,
    "leonardo/commercial-help": _INTERCOM,
    "ideogram/terms": _IDEOGRAM_SITE,
    "ideogram/privacy": _IDEOGRAM_SITE,
    "ideogram/api-terms": _IDEOGRAM_SITE,
    "ideogram/pricing": [*_IDEOGRAM_SITE, "save up to 30%"],
    "ideogram/private-docs": [*_GITBOOK, "<figure", "<kbd>"],
    "ideogram/plans": [*_GITBOOK, "*last verified"],
    "nightcafe/terms": _SHOPIFY,
    "nightcafe/privacy": _SHOPIFY,
    "nightcafe/community": [
        "nightcafe logo",
        "anonymous user",
        "my creations",
        "chat rooms",
        "nightcafe uses cookies",
        "got it",
        "__next_data__",
        "__firebase_config__",
    ],
    "nightcafe/pricing": [
        "updated 9 months ago",
        "min read",
        "was this article helpful",
        "related articles",
        "subscription faq",
        "submit a ticket",
        "helpdesk software by zoho desk",
        "deskportalconfig",
    ],
    "synthesia/msa": [
        "create a free ai video",
        "effective date",
        "we use cookies to personalise content",
        "all rights reserved",
        "w-nav",
        "gtm.start",
    ],
}

# The document's own date, for every document that declares a version_marker.
VERSION_DATES = {
    "midjourney/terms": "June 23, 2025",
    "midjourney/privacy": "June 2, 2025",
    "leonardo/terms": "2 June 2026",
    "leonardo/privacy": "25 August 2025",
    "ideogram/terms": "August 14, 2024",
    "ideogram/privacy": "August 14, 2024",
    "ideogram/api-terms": "August 14, 2024",
    "ideogram/plans": "June 2, 2026",
}

_MARKUP_LEFT = re.compile(r"</?[a-z][a-z0-9]*[\s>/]|&[a-z]+;|&#\d+;")


# --------------------------------------------------------------------------- helpers


@cache
def pack() -> Config:
    return load_config(CONFIG_DIR, environ={})


@cache
def expected() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _matcher() -> TopicMatcher:
    return TopicMatcher(pack().settings.topics)


def mirror_path(doc: Document) -> Path:
    return SITE / doc.platform / f"{doc.name}.{EXTENSIONS[doc.format]}"


def extract_mirror(doc: Document, body: bytes | None = None) -> Extracted:
    raw = mirror_path(doc).read_bytes() if body is None else body
    return extract(doc, result_from_file(doc, raw))


@cache
def mirror_text(doc_id: str) -> str:
    doc = pack().document(doc_id)
    assert doc is not None, doc_id
    return extract_mirror(doc).text


def matching_text(stored: str) -> str:
    """The normalised, lower-cased text patterns run on (headings without their # marks)."""
    return normalise(re.sub(r"(?m)^#+ ?", "", stored)).lower()


def fact_texts(
    fact: Fact, overrides: dict[str, str] | None = None
) -> dict[str, str | None]:
    texts: dict[str, str | None] = {}
    for name in fact.documents():
        if overrides and name in overrides:
            texts[name] = overrides[name]
        else:
            texts[name] = mirror_text(f"{fact.platform}/{name}")
    return texts


def _ids(items: list[Document] | list[Fact]) -> list[str]:
    return [item.id for item in items]


DOCUMENTS = list(pack().documents())
FACTS = list(pack().facts())


# --------------------------------------------------------------------------- the pack itself


def test_pack_loads_on_a_fresh_machine() -> None:
    """No ${VAR} is needed: no notify channel is enabled by default."""
    config = pack()
    assert {p.id for p in config.platforms} == {
        "midjourney",
        "leonardo",
        "ideogram",
        "nightcafe",
        "synthesia",
    }
    assert config.settings.notify.channels == ()
    assert config.settings.storage.url == "sqlite:///snapshots/watcher.db"
    assert config.settings.fetch.per_host_interval == 2.0
    assert "policy-watcher" in config.settings.fetch.user_agent


def test_every_document_has_one_mirror_file_and_no_file_is_orphaned() -> None:
    wanted = {mirror_path(doc) for doc in DOCUMENTS}
    missing = sorted(str(p.relative_to(SITE)) for p in wanted if not p.exists())
    assert not missing, f"no mirror for: {missing}"
    present = {p for p in SITE.glob("*/*") if p.is_file()}
    assert not sorted(str(p.relative_to(SITE)) for p in present - wanted)


def test_every_fact_has_an_expected_verdict() -> None:
    assert set(expected()) == {fact.id for fact in FACTS}
    for fact_id, entry in expected().items():
        assert entry["verdict"] in ("holds", "changed", "broken"), fact_id
        assert entry.get("reason"), fact_id


def test_noise_table_covers_every_document() -> None:
    assert set(NOISE) == {doc.id for doc in DOCUMENTS}
    assert set(VERSION_DATES) == {doc.id for doc in DOCUMENTS if doc.version_marker}


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_ids(DOCUMENTS))
def test_mirror_extracts_with_the_shipped_rules(doc: Document) -> None:
    raw = mirror_path(doc).read_bytes().decode("utf-8").lower()
    extracted = extract_mirror(doc)
    text = extracted.text.lower()

    assert len(extracted.text) >= doc.min_chars
    for noise in NOISE[doc.id]:
        assert noise in raw, (
            f"the mirror should carry {noise!r} for this test to mean anything"
        )
        assert noise not in text, f"{noise!r} leaked into the extracted text"
    assert not _MARKUP_LEFT.search(text), _MARKUP_LEFT.search(text)
    if doc.version_marker:
        assert extracted.version_date is not None
        assert extracted.version_date.lower() == VERSION_DATES[doc.id].lower()


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_ids(DOCUMENTS))
def test_min_chars_catches_a_broken_selection(doc: Document) -> None:
    """A page that kept its chrome but lost its text must not pass as a short document."""
    raw = mirror_path(doc).read_text(encoding="utf-8")
    if doc.format == "json":
        gutted = re.sub(r'"body":"(?:[^"\\]|\\.)*"', '"body":"<p>Loading…</p>"', raw)
    elif doc.format == "markdown":
        gutted = "\n".join(raw.splitlines()[:4])
    else:
        gutted = re.sub(
            r"(?s)<(main|article)\b.*</\1>", "<main><p>Loading…</p></main>", raw
        )
    assert gutted != raw
    with pytest.raises(ExtractError, match="selector broke"):
        extract_mirror(doc, gutted.encode("utf-8"))


# --------------------------------------------------------------------------- facts


@pytest.mark.parametrize("fact", FACTS, ids=_ids(FACTS))
def test_fact_patterns_give_the_expected_outcome(fact: Fact) -> None:
    want = expected()[fact.id]["verdict"]
    texts = {name: matching_text(text or "") for name, text in fact_texts(fact).items()}
    evidence = fact.evidence

    def hit(doc: str, pattern: str) -> bool:
        return re.compile(pattern).search(texts[doc]) is not None

    all_ok = all(hit(e.doc, e.pattern) for e in evidence.all_of)
    any_ok = not evidence.any_of or any(hit(e.doc, e.pattern) for e in evidence.any_of)
    none_ok = not any(hit(e.doc, e.pattern) for e in evidence.none_of)
    patterns_ok = all_ok and any_ok and none_ok
    quote_ok = True
    if fact.quote is not None:
        quote = matching_text(fact.quote.text).replace("*", "")
        quote_ok = quote in texts[fact.quote.doc].replace("*", "")

    for item in (*evidence.all_of, *evidence.any_of, *evidence.none_of):
        # escapes (\S, \b, \d) are not letters of the text
        literal = re.sub(r"\\.", "", item.pattern)
        assert literal == literal.lower(), f"write patterns lower-case: {item.pattern}"
        assert not re.search("[\u2018\u2019\u201c\u201d]", item.pattern), (
            "straight quotes only"
        )
    if want == "holds":
        assert patterns_ok, (all_ok, any_ok, none_ok)
        assert quote_ok, "the quote is not verbatim in the mirror"
    elif want == "changed":
        assert patterns_ok
        assert not quote_ok
    else:
        assert not (patterns_ok and quote_ok)


@pytest.mark.parametrize("fact", FACTS, ids=_ids(FACTS))
def test_evaluate_gives_the_expected_verdict(fact: Fact) -> None:
    verdict = evaluate(fact, fact_texts(fact), _matcher())
    assert verdict.verdict == expected()[fact.id]["verdict"], verdict.reasons


# --------------------------------------------------------------------------- sensitivity


@dataclass(frozen=True)
class Mutation:
    """Edit a mirror file (``old`` -> ``new``, both in the raw body) and expect a verdict."""

    fact: str
    doc: str
    edits: tuple[tuple[str, str], ...]
    verdict: str
    why: str


MUTATIONS = [
    # tolerant: known older wordings and cosmetic noise keep the patterns true
    Mutation(
        "midjourney.gallery-default-public",
        "terms",
        (("Your Content is publicly viewable", "Your images are publically viewable"),),
        "changed",
        "ToS up to Feb 2025: 'publically', and 'Your images' before Aug 2024",
    ),
    Mutation(
        "midjourney.license-covers-all-content",
        "terms",
        (
            ("its affiliates, successors, and assigns", "its successors, and assigns"),
            (
                "distribute the Content You input",
                "distribute text and image prompts You input",
            ),
        ),
        "changed",
        "the 2023 licence wording",
    ),
    Mutation(
        "midjourney.stealth-best-efforts-scope",
        "terms",
        (
            (
                "any Assets You make in a shared or open space",
                "any image You make in a shared or open space",
            ),
        ),
        "changed",
        "the pre-2025 shared-space wording",
    ),
    Mutation(
        "midjourney.license-covers-all-content",
        "terms",
        (("non-exclusive, sublicensable", "non\u2011exclusive,\u00a0sublicensable"),),
        "holds",
        "a non-breaking hyphen and space are cosmetic",
    ),
    # precise: a real change breaks the fact
    Mutation(
        "midjourney.gallery-default-public",
        "terms",
        (
            (
                "By default, Your Content is publicly viewable and remixable.",
                "By default, Your Content is private and visible only to You.",
            ),
        ),
        "broken",
        "the gallery default flips to private",
    ),
    Mutation(
        "midjourney.stealth-pro-mega-only",
        "stealth-help",
        (
            (
                "Stealth mode is available only to Pro and Mega Plan members.",
                "Stealth mode is now available to all plan members.",
            ),
        ),
        "broken",
        "Stealth opens to every plan",
    ),
    Mutation(
        "midjourney.tos-silent-on-training",
        "terms",
        (
            (
                "as well as any Assets produced by You through the Service.",
                "as well as any Assets produced by You through the Service, and to use them to train and improve our machine learning models.",
            ),
        ),
        "broken",
        "the ToS licence gains a training purpose",
    ),
    Mutation(
        "midjourney.jurisdiction-us-california",
        "terms",
        (
            (
                "the laws of the State of California, USA",
                "the laws of the State of Delaware, USA",
            ),
        ),
        "broken",
        "governing law moves",
    ),
    Mutation(
        "midjourney.privacy-discloses-ml-training",
        "privacy",
        (
            (
                "only confirmation that payment was made.",
                "only confirmation that payment was made. You can opt out of the use of your prompts for training in your account settings.",
            ),
        ),
        "broken",
        "a training opt-out appears",
    ),
    Mutation(
        "leonardo.australian-entity",
        "terms",
        (
            (
                "governed by the laws of New South Wales, Australia",
                "governed by the laws of the State of California",
            ),
        ),
        "broken",
        "Leonardo moves to US law",
    ),
    Mutation(
        "leonardo.private-mode-paid-plans",
        "private-public-help",
        (
            (
                "Private image generation is a feature only available to paid members.",
                "Private image generation is a feature only available to Artisan plans and above.",
            ),
        ),
        "broken",
        "private mode moves up-market",
    ),
    Mutation(
        "leonardo.improvement-use-disclosed",
        "private-public-help",
        (
            (
                "use them in order to provide, maintain, promote, and improve the services",
                "use them in order to provide and maintain the services",
            ),
        ),
        "broken",
        "the improvement use disappears",
    ),
    Mutation(
        "ideogram.private-plus-and-above",
        "private-docs",
        (
            (
                "With an Ideogram **Plus Plan** or higher",
                "With an Ideogram **Basic Plan** or higher",
            ),
        ),
        "broken",
        "private generation moves down to Basic (as the guide claims)",
    ),
    Mutation(
        "ideogram.pricing-plus-entry",
        "plans",
        (
            (
                "## Plus\n",
                "## Basic\n\n**$8 USD per month**, or **$7 USD per month** billed annually.\n\n## Plus\n",
            ),
        ),
        "broken",
        "a priced Basic tier is back",
    ),
    Mutation(
        "nightcafe.private-generation-possible",
        "community",
        (
            (
                "but you can still generate images privately",
                "and your creations will be removed",
            ),
        ),
        "broken",
        "the private-generation wording goes",
    ),
    Mutation(
        "nightcafe.australian-entity",
        "terms",
        (
            (
                "These Terms are governed by the laws of Australia",
                "These Terms are governed by the laws of the State of Delaware",
            ),
        ),
        "broken",
        "NightCafe moves to US law",
    ),
    Mutation(
        "synthesia.uk-entity",
        "msa",
        (
            (
                "Synthesia Limited, with registered office address at Kent House, 14/17 Market Place, London W1W 8AJ, United Kingdom",
                "Synthesia Inc., a Delaware corporation with offices at 251 Little Falls Drive, Wilmington, DE 19808",
            ),
        ),
        "broken",
        "the contracting entity becomes a US company",
    ),
]


@pytest.mark.parametrize(
    "mutation", MUTATIONS, ids=[f"{m.fact}:{m.verdict}:{m.why}" for m in MUTATIONS]
)
def test_a_real_change_breaks_the_fact_and_noise_does_not(mutation: Mutation) -> None:
    config = pack()
    fact = next(f for f in config.facts() if f.id == mutation.fact)
    doc = config.document(f"{fact.platform}/{mutation.doc}")
    assert doc is not None
    raw = mirror_path(doc).read_text(encoding="utf-8")
    for old, new in mutation.edits:
        assert old in raw, f"{old!r} is not in {mirror_path(doc).name}"
        raw = raw.replace(old, new)
    text = extract_mirror(doc, raw.encode("utf-8")).text
    verdict = evaluate(fact, fact_texts(fact, {mutation.doc: text}), _matcher())
    assert verdict.verdict == mutation.verdict, verdict.reasons
