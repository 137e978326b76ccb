"""The cosmetic rules of ``watcher.compare``: what a clause may change and still mean the same.

Contract: ``comparison_key(text)`` applies every rule of ``COSMETIC_RULES``, in order, and
returns the result; two clauses with equal keys differ only cosmetically. It is pure and
raises nothing. ``watcher.compare`` re-exports ``COSMETIC_RULES``, ``CosmeticRule`` and
``comparison_key``; add a rule here (with a ``compare_cases.yaml`` case), nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from watcher.text import normalise

__all__ = ["COSMETIC_RULES", "CosmeticRule", "comparison_key"]


class CosmeticRule(NamedTuple):
    """One normalisation of the comparison key: text that differs only here is cosmetic."""

    name: str
    description: str
    apply: Callable[[str], str]


_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}})"
)
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
_STAMP = (
    r"(?:(?:last|date)\s+)?(?:updated|modified|revised|reviewed|edited|effective|published"
    r"|posted|dated|version)(?:\s+(?:date|on|as of|from))?\s*:?\s*"
)
_AGO = (
    r"(?:\b(?:updated|edited|modified|revised|posted|published)\s+)?"
    r"(?:(?:over|about|almost|nearly|less than|more than)\s+)?(?:a|an|one|a few|\d+)\s+"
    r"(?:second|minute|hour|day|week|month|year)s?\s+ago\b"
    r"|\b(?:updated|edited|modified)\s+(?:today|yesterday|just now)\b"
)
_LINK = (
    r"(?<![\w@./-])(?:https?://)?(?:www\.)?(?P<host>(?:[a-z0-9-]+\.)+)[a-z]{2,}(?![\w-])"
    r"(?P<path>/[^\s?#)\]]*)?(?:[?#][^\s)\]]*)?"
)
_ENUMERATOR = (
    r"^(?:(?:section|article|clause|part|§)\s*)?"
    r"(?:\(?(?:\d+(?:\.\d+)*|[a-z]|[ivxlc]{1,6})\)|(?:\d+(?:\.\d+)*|[a-z]|[ivxlc]{1,6})\.|\d+(?:\.\d+)+)"
    r"(?=\s)\s*"
)
_REFERENCE = r"\b(sections?|clauses?|articles?|paragraphs?|§)\s*\d+(?:\.\d+)*(?:\s*\([a-z0-9]+\))*"


def _link(match: re.Match[str]) -> str:
    return match.group("host").rstrip(".") + (match.group("path") or "").rstrip("/")


def _copyright(match: re.Match[str]) -> str:
    return re.sub(r"\b(?:19|20)\d\d\b", "", match.group())


def _spacing(text: str) -> str:
    return _SPACE_BEFORE.sub("", " ".join(text.split())).replace("( ", "(")


_SPACE_BEFORE = re.compile(r" (?=[.,;:!?)])")


def _rule(
    pattern: str, replacement: str | Callable[[re.Match[str]], str], trigger: str
) -> Callable[[str], str]:
    """Substitute ``pattern``; skipped (cheaply) when the ``trigger`` regex finds nothing."""
    compiled, guard = re.compile(pattern), re.compile(trigger)

    def apply(text: str) -> str:
        return compiled.sub(replacement, text) if guard.search(text) else text

    return apply


# Applied in order to build a unit's comparison key. Two units with equal keys differ only
# cosmetically. Add a rule here (with a compare_cases.yaml case), nowhere else.
COSMETIC_RULES: tuple[CosmeticRule, ...] = (
    CosmeticRule("typography", "NFKC, straight quotes and dashes, no invisible characters, collapsed spaces", normalise),
    CosmeticRule("case", "letter case ('Registration and Access' = 'Registration and access')", str.casefold),
    CosmeticRule("markup", "Markdown emphasis markers and backslash escapes", _rule(r"\\(?=[^\w\s])|\*+|(?<!\w)_+|_+(?!\w)", "", r"[*_\\]")),
    CosmeticRule("links", "URLs and domains: scheme, www, TLD (civitai.green = civitai.com), query, fragment, final /", _rule(_LINK, _link, r"[a-z0-9-]\.[a-z]{2}")),
    CosmeticRule("copyright", "years after ©, (c) or 'copyright' (footer year bumps)", _rule(r"(?:©|\(c\)|\bcopyright\b).{0,60}", _copyright, r"©|\(c\)|copyright")),
    CosmeticRule("date_stamps", "'Last updated: May 1, 2026' and a unit that is only a date", _rule(rf"{_STAMP}{_WEEKDAY}{_DATE}|^{_WEEKDAY}{_DATE}\.?$", "", r"\d\d")),
    CosmeticRule("relative_times", "'Updated over a week ago', 'edited today'", _rule(_AGO, "", r"\bago\b|today|yesterday|just now")),
    CosmeticRule("numbering", "leading enumerators ('4. Rights' = '5. Rights', '(c)', '8.7')", _rule(_ENUMERATOR, "", r"^\(?[\divxlc§a-z]")),
    CosmeticRule("references", "section numbers in cross-references ('see Section 4')", _rule(_REFERENCE, r"\1 #", r"section|clause|article|paragraph|§")),
    CosmeticRule("spacing", "spaces left by the rules above, space before punctuation", _spacing),
    CosmeticRule("final_punctuation", "a full stop, comma, colon or semicolon ending the unit", _rule(r"[.,:;]+$", "", r"[.,:;]$")),
)  # fmt: skip


def comparison_key(text: str) -> str:
    """``text`` with every COSMETIC_RULES rule applied: equal keys mean a cosmetic difference."""
    for rule in COSMETIC_RULES:
        text = rule.apply(text)
    return text
