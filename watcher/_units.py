"""Units of a stored text for ``watcher.compare`` and ``watcher.evaluate``: headings and clauses.

Contract: ``split_units(stored)`` returns the headings and clauses (``text.split_sentences``)
of a stored text (the ``text.render_blocks`` format) in reading order, each a ``Unit`` with
its heading path and block index; clause text is ``text.normalise``d. ``block_units`` is the
coarser step (headings and whole blocks, not yet normalised) and ``split_unit`` the finer one,
for the differ, which splits only the blocks that changed. All pure; nothing raises.
``watcher.compare`` re-exports ``Unit`` and ``split_units``.
"""

from __future__ import annotations

from dataclasses import dataclass

from watcher.text import normalise, parse_blocks, split_sentences

__all__ = ["Unit", "block_units", "split_unit", "split_units"]


@dataclass(frozen=True, slots=True)
class Unit:
    """A heading or a clause of a stored text: the thing that is diffed and quoted."""

    heading: tuple[str, ...]  # heading path; a heading unit's path ends with itself
    text: str  # text.normalise'd, case kept
    block: int  # index of its block (a heading: of the block that follows it)
    is_heading: bool = False


def block_units(stored: str) -> list[Unit]:
    """Headings and whole blocks (text not yet normalised), in reading order."""
    items: list[Unit] = []
    path: tuple[str, ...] = ()
    for index, block in enumerate(parse_blocks(stored)):
        if block.heading != path:
            common = 0
            while (
                common < min(len(path), len(block.heading))
                and path[common] == block.heading[common]
            ):
                common += 1
            for level in range(common, len(block.heading)):
                if block.heading[level].strip():
                    items.append(
                        Unit(
                            block.heading[: level + 1],
                            block.heading[level],
                            index,
                            True,
                        )
                    )
            path = block.heading
        items.append(Unit(block.heading, block.text, index))
    return items


def split_unit(item: Unit) -> list[Unit]:
    """A heading item as one normalised unit; a block item as its clauses."""
    if item.is_heading:
        return [Unit(item.heading, normalise(item.text), item.block, True)]
    return [
        Unit(item.heading, s, item.block) for s in split_sentences(normalise(item.text))
    ]


def split_units(stored: str) -> tuple[Unit, ...]:
    """Headings and clauses (``text.split_sentences``) of a stored text, in reading order."""
    return tuple(unit for item in block_units(stored) for unit in split_unit(item))
