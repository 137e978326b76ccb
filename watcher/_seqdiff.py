"""Diff-match-patch over sequences for ``watcher.compare``: block runs and word diffs.

Contract: ``diff_runs(old, new)`` diffs two sequences of strings (one diff-match-patch
character per distinct string) into the index pairs that stay equal and the changed ``Run``s
between them. ``word_diff(old, new)`` is the word-level diff the CLI, the notifier and the
fact evaluator render; ``watcher.compare`` re-exports it. All pure; nothing raises.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from diff_match_patch import diff_match_patch

__all__ = ["WORDS", "Run", "diff_runs", "word_diff"]


def _symbol(index: int) -> str:
    """The index-th character usable by diff-match-patch (skipping surrogates)."""
    code = index + 0x100
    return chr(code + 0x800 if code >= 0xD800 else code)


def _encode(items: Sequence[str], table: dict[str, str]) -> str:
    """One character per item; ``table`` maps each distinct item to its character."""
    chars = []
    for item in items:
        char = table.get(item)
        if char is None:
            char = table[item] = _symbol(len(table))
        chars.append(char)
    return "".join(chars)


@dataclass
class Run:
    """Old entries ``removed`` became new entries ``added`` (indices), before new entry ``pos``."""

    pos: int
    removed: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)


def diff_runs(
    old: Sequence[str], new: Sequence[str]
) -> tuple[list[tuple[int, int]], list[Run]]:
    """Diff two string sequences (one diff-match-patch character per distinct string): the
    (old, new) index pairs that stay equal, and the changed runs between them."""
    table: dict[str, str] = {}
    encoded = [_encode(old, table), _encode(new, table)]
    if set(encoded[0]).isdisjoint(
        encoded[1]
    ):  # nothing in common: skip the O(N*D) bisect
        diffs = [(-1, encoded[0]), (1, encoded[1])]
    else:
        engine = diff_match_patch()
        engine.Diff_Timeout = 2.0
        diffs = engine.diff_main(encoded[0], encoded[1], False)
    equal: list[tuple[int, int]] = []
    runs: list[Run] = []
    current: Run | None = None
    i = j = 0
    for op, chars in diffs:
        count = len(chars)
        if op == 0:
            equal.extend((i + k, j + k) for k in range(count))
            i, j, current = i + count, j + count, None
            continue
        if current is None:
            current = Run(j)
            runs.append(current)
        if op < 0:
            current.removed.extend(range(i, i + count))
            i += count
        else:
            current.added.extend(range(j, j + count))
            j += count
    return equal, runs


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")  # word_diff never splits a word
WORDS = re.compile(r"\w+")  # what word bags and the word-overlap cut-off count


def word_diff(old: str, new: str) -> tuple[tuple[int, str], ...]:
    """Word-level diff: (-1 removed | 0 kept | 1 added, text) runs; never splits a word.

    Texts that share under a fifth of their words are shown as one removal and one addition
    (a word-by-word diff of them is slow to compute and useless to read)."""
    old_words, new_words = Counter(WORDS.findall(old)), Counter(WORDS.findall(new))
    total = old_words.total() + new_words.total()
    if total and 2 * (old_words & new_words).total() < 0.2 * total:
        return tuple((op, text) for op, text in ((-1, old), (1, new)) if text)
    table: dict[str, str] = {}
    encoded = [_encode(_TOKEN.findall(old), table), _encode(_TOKEN.findall(new), table)]
    engine = diff_match_patch()
    diffs = engine.diff_main(encoded[0], encoded[1], False)
    engine.diff_cleanupSemantic(diffs)
    decode = {char: token for token, char in table.items()}
    ops: list[tuple[int, str]] = []
    for op, chars in diffs:
        text = "".join([decode[char] for char in chars])
        if ops and ops[-1][0] == op:
            ops[-1] = (op, ops[-1][1] + text)
        elif text:
            ops.append((op, text))
    return tuple(ops)
