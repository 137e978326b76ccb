"""``doc.remove_text``: case-insensitive regexes deleted from each block's text.

``remove_text(blocks, patterns)`` deletes every match of each pattern (in order) from each
block; a changed block is cleaned again (``base.clean_text``) and dropped when nothing is left.

A case-insensitive regex search gets no help from a literal prefix in ``re`` and costs about
8 ns a character, every pattern over every block. So when a pattern opens with plain text
(``updated \\d+ \\w+ ago`` with ``updated ``), an ASCII block is first asked, with ``in`` on its
lower-cased text, whether it holds that text at all; a block that does not cannot match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from watcher.extract.base import clean_text
from watcher.models import Block

__all__ = ["literal_head", "remove_text"]

# Characters with a meaning in a regex outside a class; every other character stands for itself.
_SYNTAX = frozenset("\\.^$*+?{}[]|()")
_QUANTIFIERS = frozenset("*+?{")
# Comments and verbose mode change what "(", "[" and "|" mean; such patterns get no head.
_COMMENT_OR_VERBOSE = re.compile(r"\(\?(?:#|[a-zA-Z-]*x)")


def literal_head(pattern: str) -> str:
    """Lower-cased ASCII text that every match of ``pattern`` starts with ("" if unknown).

    Read conservatively: after an optional ``^``, the characters before the first one with a
    regex meaning (or the first non-ASCII one), less the last if a quantifier follows it; and
    nothing when ``pattern`` may hold a ``|`` outside every group, as an alternative need
    not start with that text.
    """
    head: list[str] = []
    for char in pattern.removeprefix("^"):
        if char in _SYNTAX or not char.isascii():
            if char in _QUANTIFIERS and head:
                head.pop()
            break
        head.append(char)
    if not head or _may_alternate(pattern):
        return ""
    return "".join(head).lower()


def _may_alternate(pattern: str) -> bool:
    """Whether a ``|`` in ``pattern`` may lie outside every group (True when unsure)."""
    if "|" not in pattern:
        return False
    if _COMMENT_OR_VERBOSE.search(pattern):
        return True
    depth, i = 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(pattern, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth <= 0:
            return True
        i += 1
    return False


def _class_end(pattern: str, start: int) -> int:
    """Index just past the character class opening at ``pattern[start]`` ("[")."""
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":  # first in a class, "]" is a member
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
        elif pattern[i] == "]":
            return i + 1
        else:
            i += 1
    return i


def _strip(text: str, patterns: Sequence[tuple[re.Pattern[str], str]]) -> str:
    lowered: str | None = None
    for pattern, head in patterns:
        if head and text.isascii():
            if lowered is None:
                lowered = text.lower()
            if head not in lowered:
                continue  # no match can start anywhere in this text
        removed = pattern.sub("", text)
        if removed != text:
            text, lowered = removed, None
    return text


def remove_text(
    blocks: list[Block], patterns: Sequence[re.Pattern[str]]
) -> list[Block]:
    """``blocks`` less what ``patterns`` (compiled case-insensitive) match in their text."""
    if not patterns:
        return blocks
    with_heads = [
        (p, "" if p.flags & re.VERBOSE else literal_head(p.pattern)) for p in patterns
    ]
    kept: list[Block] = []
    for block in blocks:
        text = _strip(block.text, with_heads)
        if text != block.text:
            text = clean_text(text)
            if not text:
                continue
            block = Block(block.heading, text)
        kept.append(block)
    return kept
