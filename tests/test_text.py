"""The stored text format, normalisation, clause splitting and topic tagging."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from tests.conftest import CORPUS, DATA
from watcher.models import Block
from watcher.text import (
    _ASCII_BREAKS,
    _QUOTES,
    TopicMatcher,
    normalise,
    parse_blocks,
    render_blocks,
    split_clauses,
    split_sentences,
    strip_controls,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\u201cPro\u201d or \u2018Mega\u2019", "\"Pro\" or 'Mega'"),
        ("non\u2011exclusive \u2014 ok", "non-exclusive - ok"),
        ("a\u00a0b\u200bc\u2060d\u00ade", "a bcde"),
        ("  \u2022  Private   images\n\tstay  ", "Private images stay"),
        ("\ufb01le \u2026", "file ..."),
    ],
)
def test_normalise_hides_cosmetic_variation(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


_REFERENCE_SPACE = re.compile(r"\s+")
_REFERENCE_BULLET = re.compile(
    r"^(?:[\u2022\u25e6\u25aa\u25ab\u2023\u2043\u2219\u25cf\u25cb\u00b7*\-]\s+)+"
)


def _reference_normalise(text: str) -> str:
    """``normalise`` without its fast paths: NFKC, table, regex collapse, bullet regex."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _REFERENCE_SPACE.sub(" ", text).strip()
    return _REFERENCE_BULLET.sub("", text)


# Characters where a shortcut could go wrong: ASCII whitespace beyond " \t\n" (\x1c-\x1f
# are whitespace too), the one ASCII character of the quote table (the backtick), bullets,
# characters NFKC rewrites (ligature, full-width letters and bullets, em space, composed
# accents), zero-width and soft-hyphen characters, non-ASCII whitespace.
_TRICKY = [
    *"ab Z09.,;:-*'\"`#",
    *"\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u2003\u2028\u3000",
    *"\u2022\u25cf\u00b7\uff0a\uff0d\u2013\u2019\u201c\uff40",
    *"\ufb01\uff21\u2126\u00bd\u0301\u00e9\u1100\u1161\u00ad\u200b\ufeff",
]


@pytest.mark.parametrize(
    "raw",
    [
        "it`s `code`",  # ASCII: the backtick is the only table entry it can hold
        "a\x1cb\x1dc\x1ed\x1fe\x0bf\x0cg\rh",
        "  - * item",
        "-item",
        "- ",
        "\uff0a full-width bullet",  # NFKC makes it "*", then a bullet
        "\u00b7\u00a0dot",
        "\u3000 \u2003em\u2028line\x85next ",
        "\ufb01nal \uff21\uff22 e\u0301",
        "",
        " \t\n",
    ],
)
def test_normalise_fast_paths_match_the_plain_definition(raw: str) -> None:
    assert normalise(raw) == _reference_normalise(raw)


def test_ascii_breaks_are_the_ascii_whitespace_but_the_space() -> None:
    ascii_space = {chr(code) for code in range(128) if chr(code).isspace()}
    assert set(_ASCII_BREAKS) == ascii_space - {" "}


def test_normalise_replaces_every_quote_table_character() -> None:
    for code in _QUOTES:
        for raw in (f"a{chr(code)}b", f"\u00e9 a{chr(code)}b", f"{chr(code)}`"):
            assert normalise(raw) == _reference_normalise(raw), repr(raw)


def test_normalise_matches_the_plain_definition_on_random_text() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        raw = "".join(rng.choice(_TRICKY) for _ in range(rng.randint(0, 12)))
        assert normalise(raw) == _reference_normalise(raw), repr(raw)


def test_blocks_round_trip_through_the_stored_text() -> None:
    blocks = (
        Block((), "Intro before any heading."),
        Block(("4. Rights", "Stealth"), "Stealth text."),
        Block(("4. Rights",), "Back at the section level."),
        Block(("5. Law",), "# a paragraph that starts like a heading"),
        Block((), "A trailing paragraph outside every section."),
        Block(("6. End",), "\\ a backslash paragraph"),
    )
    text = render_blocks(blocks)
    assert parse_blocks(text) == blocks
    assert "## Stealth" in text.splitlines()


def test_sentences_keep_abbreviations_and_merge_fragments() -> None:
    text = (
        "Midjourney, Inc. is based in the U.S. and e.g. California. "
        "Yes. This second sentence is long enough to stand alone as a clause."
    )
    assert split_sentences(text) == [
        "Midjourney, Inc. is based in the U.S. and e.g. California. Yes.",
        "This second sentence is long enough to stand alone as a clause.",
    ]


def test_clauses_carry_heading_and_topics() -> None:
    blocks = [
        Block(
            ("4. Rights", "Stealth"),
            'If You purchased the Stealth feature as part of Your "Pro" or "Mega" subscription, we agree not to publish Assets.',
        ),
        Block(
            ("12. Law",),
            "This Agreement shall be governed by the laws of the State of California.",
        ),
    ]
    clauses = split_clauses(blocks, TopicMatcher())
    assert clauses[0].heading == ("4. Rights", "Stealth")
    assert {"private_mode", "pricing"} <= set(clauses[0].topics)
    assert clauses[1].topics == ("jurisdiction",)
    assert clauses[1].block == 1


def test_configured_topic_replaces_or_adds_patterns() -> None:
    matcher = TopicMatcher(
        {"training_use": (r"\bfine-tun",), "biometrics": (r"\bface ?prints?\b",)}
    )
    assert matcher.topics("We may fine-tune models on your faceprint.") == (
        "training_use",
        "biometrics",
    )
    assert "training_use" not in matcher.topics("We train models on your content.")


def test_strip_controls_removes_terminal_escapes() -> None:
    assert strip_controls("a\x1b[31mred\x1b[0m \x1b]0;title\x07b\x00c\n") == "ared bc\n"


def _sample_texts() -> list[str]:
    texts = [
        p.read_text(encoding="utf-8", errors="replace")
        for p in sorted((DATA / "pages").glob("*"))
    ]
    if CORPUS.is_dir():
        for doc_dir in sorted(p for p in CORPUS.glob("*/*") if p.is_dir()):
            texts += [
                p.read_text(encoding="utf-8") for p in sorted(doc_dir.glob("*.md"))[:2]
            ]
    return texts


def test_keyword_gates_never_change_a_tag() -> None:
    """The gates that skip hopeless regex searches must agree with the plain patterns."""
    gated, plain = TopicMatcher(), TopicMatcher(gated=False)
    checked = 0
    for text in _sample_texts():
        for line in text.splitlines():
            for sentence in split_sentences(normalise(line)):
                assert gated.topics(sentence) == plain.topics(sentence), sentence
                checked += 1
    assert checked > 500


def test_gates_apply_only_to_unchanged_default_topics() -> None:
    # 'learns' holds none of training_use's gate words: a replaced topic must still see it
    matcher = TopicMatcher({"training_use": (r"\blearns\b",)})
    assert matcher.topics("The model learns from your prompts.") == ("training_use",)
