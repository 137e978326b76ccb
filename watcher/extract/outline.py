"""The heading path while a document is read, and the blocks collected under it.

Shared by the HTML walker and the Markdown reader so both keep the same rules:

- a heading of level n pops every open heading of level n or deeper; a real heading also pops
  every "pseudo" heading (a bold paragraph read as a heading), which only labels what follows;
- a heading popped with nothing under it is kept as a line of text under its parent, so a
  document's last heading, or two headings in a row, never lose their text;
- ``root`` headings (a JSON article's title) start every path and are never popped or emitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from watcher.models import Block

__all__ = ["Outline"]


@dataclass(slots=True)
class _Heading:
    level: int
    text: str
    pseudo: bool = False
    used: bool = False  # a block sits under it


class Outline:
    """Collects ``Block``s, each with the heading path open when it was added."""

    def __init__(self, root: tuple[str, ...] = ()) -> None:
        self.blocks: list[Block] = []
        self._root = len(root)
        self._stack = [_Heading(0, text, used=True) for text in root]
        self._path = tuple(root)

    @property
    def path(self) -> tuple[str, ...]:
        return self._path

    def real_level(self) -> int:
        """Level of the deepest open heading that is not a pseudo heading (0: none)."""
        return max((h.level for h in self._stack if not h.pseudo), default=0)

    def add(self, text: str) -> None:
        self._use()
        self.blocks.append(Block(self._path, text))

    def extend(self, blocks: list[Block]) -> None:
        """Blocks made elsewhere (an HTML block in Markdown) under the current path."""
        if blocks:
            self._use()
            self.blocks.extend(blocks)

    def heading(self, level: int, text: str, *, pseudo: bool = False) -> None:
        while len(self._stack) > self._root and (
            self._stack[-1].level >= level or (self._stack[-1].pseudo and not pseudo)
        ):
            self._pop()
        self._stack.append(_Heading(level, text, pseudo))
        self._path = (*self._path, text)

    def close(self) -> list[Block]:
        """Pop every heading (emitting the unused ones) and return the blocks."""
        while len(self._stack) > self._root:
            self._pop()
        return self.blocks

    def _use(self) -> None:
        for heading in self._stack:
            heading.used = True

    def _pop(self) -> None:
        heading = self._stack.pop()
        self._path = self._path[:-1]
        if not heading.used:
            self.add(heading.text)
