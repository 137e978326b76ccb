"""Normalised document text: the one format every stage after fetch agrees on.

A document's text is a sequence of ``Block``s (paragraph, list item, table row), each with its
heading path. ``render_blocks`` turns them into the stored text (Markdown-like: ``#`` heading
lines, one block per line); ``parse_blocks`` reads it back. ``split_clauses`` cuts blocks into
clauses (sentences, short fragments merged) and tags each with the topics whose patterns match.

``normalise`` is what makes cosmetic edits invisible: NFKC, straight quotes and hyphens, no
zero-width or non-breaking spaces, no bullet glyphs, collapsed whitespace.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from watcher.models import Block, Clause

__all__ = [
    "DEFAULT_TOPICS",
    "TopicMatcher",
    "normalise",
    "parse_blocks",
    "render_blocks",
    "sha256_text",
    "split_clauses",
    "split_sentences",
    "strip_controls",
]

# Topic rules shipped with the package; `topics:` in watcher.yaml adds topics or replaces the
# pattern list of one. Patterns are matched case-insensitively against a clause's normalised text.
DEFAULT_TOPICS: dict[str, tuple[str, ...]] = {
    "gallery_default": (
        r"\bpublic(al)?ly (viewable|visible|available|accessible|displayed)",
        r"\b(community|public|explore) (gallery|feed|showcase|page)",
        r"\bremix",
        r"\bvisible to (the public|others|other (users|members)|anyone|everyone)",
        r"\bopen[- ]by[- ]default\b",
        r"\bby default\b[^.]{0,80}\bpublic",
        r"\bpublic\b[^.]{0,40}\bby default\b",
        r"\bpublish(ed|es|ing)?\b[^.]{0,60}\b(creations?|images?|generations?|assets?)\b",
    ),
    "private_mode": (
        r"\bstealth\b",
        r"\bprivate (mode|generations?|images?|creations?|content|toggle)\b",
        r"\bgenerate\b[^.]{0,40}\bprivate(ly)?\b",
        r"\bvisibility settings?\b",
    ),
    "training_use": (
        r"\btrain(s|ed|ing)?\b",
        r"\bmachine[- ]learning\b",
        r"\bimprov(e|es|ed|ing|ement)\b[^.]{0,60}\b(services?|models?|products?|algorithms?|features?)\b",
        r"\b(services?|models?|products?)\b[^.]{0,40}\bimprov(e|es|ed|ing|ement)\b",
        r"\blicen[cs]e\b[^.]{0,200}\b(content|assets?|inputs?|outputs?|prompts?|images?)\b",
        r"\b(content|assets?|inputs?|outputs?|prompts?|images?)\b[^.]{0,200}\blicen[cs]e\b",
        r"\bopt[- ]?out\b",
    ),
    "retention": (
        r"\bretain(s|ed|ing)?\b",
        r"\bretention\b",
        r"\bdelet(e|ed|es|ing|ion)\b",
        r"\b(stored?|kept|keep)\b[^.]{0,40}\b(for|until) (\d+|as long as|a period)\b",
    ),
    "jurisdiction": (
        r"\bgoverning law\b",
        r"\bgoverned by\b[^.]{0,40}\blaws?\b",
        r"\blaws? of the (state|province|commonwealth) of\b",
        r"\barbitrat(ion|or|ed)\b",
        r"\bjurisdiction\b",
        r"\bregistered (office|address)\b",
        r"\b(incorporated|registered) in\b",
        # the contracting entity, where a clause names or defines it
        r"\b(inc|llc|l\.l\.c|ltd|limited|pty|gmbh|plc|corp|corporation)\b\.?,?\s*\(",
        r"\bbetween\b[^.]{0,80}\b(inc|llc|l\.l\.c|ltd|limited|pty|gmbh|plc)\b",
        r"\b(operated|provided|offered|controlled) by\b[^.]{0,60}\b(inc|llc|l\.l\.c|ltd|limited|pty|gmbh|plc)\b",
        r"\b(data|servers?|information)\b[^.]{0,40}\b(located|stored|hosted|processed|transferred)\b[^.]{0,20}\b(in|to|outside)\b",
    ),
    "pricing": (
        r"(\$|€|£|usd\s?|eur\s?)\d",
        r"\d\s?(usd|eur|gbp)\b",
        r"\bper (month|year|user)\b",
        r"/\s?(mo|month|yr|year)\b",
        r"\b(monthly|annual|annually|yearly) (price|plan|billing|subscription|payment)s?\b",
        r"\b(basic|standard|pro|mega|plus|free|paid|premium|enterprise|team)\"? (plan|tier|subscription|membership)s?\b",
    ),
}

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "\u0060": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00ad": None,  # soft hyphen
        "\u200b": None,  # zero-width space
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,  # word joiner
        "\ufeff": None,
    }
)
# _QUOTES as (character, replacement) pairs: replacing the few present is many times faster
# than str.translate on non-ASCII text, which looks every character up in the table.
_QUOTE_PAIRS = tuple((chr(code), value or "") for code, value in _QUOTES.items())
# The ASCII whitespace characters but the space (str.isspace, hence regex \s).
_ASCII_BREAKS = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_BULLETS = "\u2022\u25e6\u25aa\u25ab\u2023\u2043\u2219\u25cf\u25cb\u00b7*-"
_LEADING_BULLET = re.compile(f"^(?:[{re.escape(_BULLETS)}]\\s+)+")
_BULLET_START = frozenset(_BULLETS)


def normalise(text: str) -> str:
    """Return ``text`` with cosmetic variation removed (case is kept)."""
    if not text.isascii():  # ASCII text is NFKC already
        text = unicodedata.normalize("NFKC", text)
    text = _straighten(text)
    if not (text.isascii() and _collapsed(text)):
        # str.split() splits on exactly the characters regex \s matches (str.isspace)
        text = " ".join(text.split())
    if text[:1] in _BULLET_START:
        text = _LEADING_BULLET.sub("", text)
    return text


def _collapsed(text: str) -> bool:
    """Whether ASCII ``text`` has no whitespace but single spaces between words.

    Most block text is, and these searches tell so two to three times faster than split and
    join would.
    """
    if text[:1] == " " or text[-1:] == " " or "  " in text:
        return False
    return all(char not in text for char in _ASCII_BREAKS)


def _straighten(text: str) -> str:
    """``text.translate(_QUOTES)``."""
    if text.isascii():  # the backtick is the one ASCII character in _QUOTES
        return text.replace("`", "'") if "`" in text else text
    for char, replacement in _QUOTE_PAIRS:
        if char in text:
            text = text.replace(char, replacement)
    return text


# ESC-introduced sequences (CSI, OSC, single-char), then any other C0/C1 control but \n and \t.
_ESCAPES = re.compile(
    r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])|\x9b[0-?]*[ -/]*[@-~]"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """``text`` without terminal control sequences or control characters (page text is untrusted)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_blocks(blocks: Iterable[Block]) -> str:
    """Stored text: heading lines (``#`` per level) when the path changes, one block per line."""
    lines: list[str] = []
    path: tuple[str, ...] = ()
    for block in blocks:
        if block.heading != path:
            common = 0
            while (
                common < min(len(path), len(block.heading))
                and path[common] == block.heading[common]
            ):
                common += 1
            if not block.heading:  # back to text above every heading
                lines.append("#")
            elif common == len(
                block.heading
            ):  # went back up: repeat the parent heading
                common -= 1
            for level in range(common, len(block.heading)):
                lines.append(f"{'#' * (level + 1)} {block.heading[level]}")
            path = block.heading
        text = block.text
        if text.startswith(("#", "\\")):
            text = "\\" + text
        lines.append(text)
    return "\n".join(lines) + ("\n" if lines else "")


_HEADING_LINE = re.compile(r"^(#{1,12}) (.*)$")


def parse_blocks(text: str) -> tuple[Block, ...]:
    """Inverse of ``render_blocks``; plain text without headings gives one block per line."""
    blocks: list[Block] = []
    path: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line == "#":
            path = []
            continue
        heading = _HEADING_LINE.match(line)
        if heading:
            level = len(heading.group(1))
            del path[level - 1 :]
            path.extend([""] * (level - 1 - len(path)))
            path.append(heading.group(2))
            continue
        if line.startswith("\\"):
            line = line[1:]
        blocks.append(Block(tuple(path), line))
    return tuple(blocks)


# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by whitespace and
# something that starts a sentence. Abbreviations are protected below.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = re.compile(
    r"\b(?:e\.g|i\.e|etc|inc|ltd|llc|co|corp|no|nos|vs|st|mr|mrs|ms|dr|jr|sr|art|sec|para|"
    r"approx|incl|u\.s|u\.k|e\.u|pty|cf|fig|ch|vol|p|pp)\.$",
    re.IGNORECASE,
)
_MIN_CLAUSE_CHARS = (
    40  # shorter fragments ("Yes.", "1.") are merged into their neighbour
)


def split_sentences(text: str) -> list[str]:
    """Split one block into sentences, keeping abbreviations and initials together."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()].rstrip()
        last_word = candidate.rsplit(" ", 1)[-1]
        if _ABBREVIATIONS.search(last_word) or re.fullmatch(r"[A-Z]\.", last_word):
            continue
        pieces.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    merged: list[str] = []
    for piece in pieces:
        if merged and (
            len(merged[-1]) < _MIN_CLAUSE_CHARS or len(piece) < _MIN_CLAUSE_CHARS
        ):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


# For each default pattern, substrings of which every match contains at least one (in lower
# case). A clause holding none of them cannot match, so that regex is skipped: topic tagging
# was most of extraction's cost, and `in` on a short string is ~50x cheaper than a search.
# tests/test_text.py checks that gated and ungated tagging agree; patterns the config adds or
# replaces run ungated.
_GATES: dict[str, tuple[str, ...]] = dict(
    zip(
        DEFAULT_TOPICS["gallery_default"],
        [
            ("publicly", "publically"),
            ("gallery", "feed", "showcase", "page"),
            ("remix",),
            ("visible to",),
            ("default",),
            ("by default",),
            ("by default",),
            ("publish",),
        ],
        strict=True,
    )
)
_GATES.update(
    zip(
        DEFAULT_TOPICS["private_mode"],
        [("stealth",), ("private",), ("private",), ("visibility setting",)],
        strict=True,
    )
)
_GATES.update(
    zip(
        DEFAULT_TOPICS["training_use"],
        [
            ("train",),
            ("machine",),
            ("improv",),
            ("improv",),
            ("licen",),
            ("licen",),
            ("opt-out", "opt out", "optout"),
        ],
        strict=True,
    )
)
_GATES.update(
    zip(
        DEFAULT_TOPICS["retention"],
        [("retain",), ("retention",), ("delet",), ("store", "kept", "keep")],
        strict=True,
    )
)
_GATES.update(
    zip(
        DEFAULT_TOPICS["jurisdiction"],
        [
            ("governing law",),
            ("governed by",),
            ("of the state", "of the province", "of the commonwealth"),
            ("arbitrat",),
            ("jurisdiction",),
            ("registered",),
            ("incorporated", "registered"),
            ("(",),
            ("between",),
            ("operated by", "provided by", "offered by", "controlled by"),
            ("located", "stored", "hosted", "processed", "transferred"),
        ],
        strict=True,
    )
)
_GATES.update(
    zip(
        DEFAULT_TOPICS["pricing"],
        [
            ("$", "\u20ac", "\u00a3", "usd", "eur"),
            ("usd", "eur", "gbp"),
            ("per month", "per year", "per user"),
            ("/",),
            ("monthly", "annual", "yearly"),
            ("plan", "tier", "subscription", "membership"),
        ],
        strict=True,
    )
)


class TopicMatcher:
    """Tags text with the topics whose patterns match (case-insensitive)."""

    def __init__(
        self, rules: Mapping[str, Sequence[str]] | None = None, *, gated: bool = True
    ) -> None:
        merged = dict(DEFAULT_TOPICS)
        merged.update(
            {name: tuple(patterns) for name, patterns in (rules or {}).items()}
        )
        # one literal pre-check and one combined regex per topic: a few searches per clause
        self._checks: dict[str, tuple[re.Pattern[str] | None, re.Pattern[str]]] = {
            name: (
                _gate(patterns) if gated else None,
                re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE),
            )
            for name, patterns in merged.items()
            if patterns
        }

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    def topics(self, text: str) -> tuple[str, ...]:
        lower = text.lower()
        return tuple(
            name
            for name, (gate, rx) in self._checks.items()
            if (gate is None or gate.search(lower)) and rx.search(text)
        )


def _gate(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """The literal pre-check of a topic whose every pattern has one (see _GATES), else None."""
    words: dict[str, None] = {}
    for pattern in patterns:
        if pattern not in _GATES:
            return None
        words.update(dict.fromkeys(_GATES[pattern]))
    return re.compile("|".join(map(re.escape, words)))


def split_clauses(blocks: Sequence[Block], matcher: TopicMatcher) -> tuple[Clause, ...]:
    """Every block cut into clauses, each tagged with its topics."""
    clauses: list[Clause] = []
    for index, block in enumerate(blocks):
        for sentence in split_sentences(block.text):
            clauses.append(
                Clause(block.heading, sentence, matcher.topics(sentence), index)
            )
    return tuple(clauses)
