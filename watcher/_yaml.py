"""Read one config file: strict YAML, then ``${VAR}`` expansion. Only ``watcher.config`` uses it.

Contract: ``read_yaml(path, environ) -> YamlFile`` reports a bad file rather than raising.
It refuses (``failed=True``) a file that is unreadable, not UTF-8, not YAML, has a recursive
alias or whose aliases expand to more than ``_MAX_VALUES`` values; duplicate keys are
reported but the file is still constructed (the last value wins) so later checks run.
``${VAR}`` in any string value is replaced from ``environ`` (``$${`` is a literal ``${``); an
unset variable or a bare ``${`` is a problem and its key path is listed in ``unexpanded``.
Problems are ``(key path, message)`` pairs in the order found; ``watcher.config`` adds the
file name.

A string that came out of expansion is an ``Expanded`` (a ``str`` that remembers its source
text), and ``show`` quotes a value for a message using that source text: a secret from the
environment never reaches an error message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Expanded", "Loc", "YamlFile", "read_yaml", "show"]

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_VALUES = 100_000  # a config file is a few thousand values; more is an alias bomb

Loc = tuple[Any, ...]  # a key path: ("facts", 2, "evidence")


class Expanded(str):
    """A string that came out of ``${VAR}`` expansion; ``source`` is the text before it."""

    source: str


def show(value: object) -> str:
    """``value`` quoted for a message; an expanded string shows its source text instead."""
    if isinstance(value, Expanded):
        return repr(value.source)
    return repr(value)


@dataclass(frozen=True, slots=True)
class YamlFile:
    """What ``read_yaml`` made of one file."""

    data: Any  # with ${VAR} expanded; None for an empty file (or a failed one)
    failed: bool  # the file cannot be used at all; ``problems`` says why
    problems: tuple[tuple[Loc, str], ...]  # (key path, message), in the order found
    unexpanded: frozenset[Loc]  # key paths where ${VAR} expansion failed


def read_yaml(path: Path, environ: Mapping[str, str]) -> YamlFile:
    """Read, parse and expand ``path``; every problem is in the result, nothing raises."""
    found: list[tuple[Loc, str]] = []
    unexpanded: set[Loc] = set()
    data, failed = _parse(path, found)
    if not failed:
        data = _expand(data, (), environ, found, unexpanded)
    return YamlFile(data, failed, tuple(found), frozenset(unexpanded))


class _Strict:
    """A SafeLoader that refuses duplicate mapping keys, recursive aliases and alias bombs.

    ``problems(node)`` walks the composed node tree before it is constructed and returns
    ``(key path, message)`` for each; a file with any of them is not constructed further
    than its duplicates (the last value of a duplicate key wins, so later checks still run).
    """

    def problems(self, node: yaml.Node) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        if self._size(node, (), {}, found) > _MAX_VALUES:
            found.append(((), f"aliases expand to more than {_MAX_VALUES} values"))
        return found

    def _size(
        self,
        node: yaml.Node,
        loc: Loc,
        sizes: dict[int, int],
        found: list[tuple[Loc, str]],
    ) -> int:
        """How many values ``node`` stands for once aliases are expanded (memoised)."""
        if id(node) in sizes:
            if sizes[id(node)] < 0:
                found.append(
                    (loc, f"recursive alias on line {node.start_mark.line + 1}")
                )
                return 0  # reported; the file is refused anyway
            return sizes[id(node)]
        sizes[id(node)] = -1  # open: meeting it again below is a recursion
        size = 1
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    size += self._size(value, loc, sizes, found)
                    continue
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if (key.tag, key.value) in first:
                        message = f"duplicate key {key.value!r} on line {line} (first on line {first[key.tag, key.value]})"
                        found.append((loc, message))
                    first.setdefault((key.tag, key.value), line)
                    size += self._size(value, (*loc, key.value), sizes, found)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                size += self._size(item, (*loc, index), sizes, found)
        sizes[id(node)] = size
        return size


class _StrictLoader(_Strict, yaml.SafeLoader):
    """Pure-Python parsing: the most precise syntax error messages."""


# libyaml's parser where PyYAML has it: a platform file of 1,000 documents parses ~10x
# faster. A file it refuses is parsed again by _StrictLoader for the clearer message.
_FastLoader: type[yaml.SafeLoader] = _StrictLoader
if getattr(yaml, "__with_libyaml__", False):

    class _CStrictLoader(_Strict, yaml.CSafeLoader):
        pass

    _FastLoader = _CStrictLoader  # type: ignore[assignment]


def _parse(path: Path, found: list[tuple[Loc, str]]) -> tuple[Any, bool]:
    """The file's data (not yet expanded) and whether it failed; problems go to ``found``."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        found.append(((), f"not UTF-8 text (byte {exc.start})"))
        return None, True
    except OSError as exc:
        found.append(((), f"cannot read: {exc.strerror}"))
        return None, True
    try:
        return _load(_FastLoader, text, found)
    except yaml.YAMLError:
        pass  # refused: let the pure-Python parser say exactly why
    try:
        return _load(_StrictLoader, text, found)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        during = ""
        if exc.problem and exc.context and exc.context_mark:
            during = f" ({exc.context} on line {exc.context_mark.line + 1})"
        found.append(((), f"{where}{exc.problem or exc.context}{during}"))
        return None, True
    except yaml.YAMLError as exc:
        found.append(((), f"not valid YAML: {exc}"))
        return None, True


def _load(
    loader_class: type[yaml.SafeLoader], text: str, found: list[tuple[Loc, str]]
) -> tuple[Any, bool]:
    """Compose, check and construct ``text``; raises yaml.YAMLError for bad syntax.

    Problems reach ``found`` only when the file parsed, so a retry never repeats them.
    """
    loader: Any = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, False
        structural: list[tuple[Loc, str]] = loader.problems(node)
        if any(not message.startswith("duplicate") for _, message in structural):
            found.extend(structural)
            return None, True
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    found.extend(structural)
    return data, False


def _expand(
    data: Any,
    loc: Loc,
    env: Mapping[str, str],
    found: list[tuple[Loc, str]],
    unexpanded: set[Loc],
) -> Any:
    if isinstance(data, dict):
        return {
            key: _expand(value, (*loc, key), env, found, unexpanded)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            _expand(item, (*loc, index), env, found, unexpanded)
            for index, item in enumerate(data)
        ]
    if not isinstance(data, str) or "${" not in data:
        return data
    pieces: list[str] = []
    position = 0
    substituted = False
    for match in _ENV_REF.finditer(data):
        pieces.append(data[position : match.start()])
        position = match.end()
        variable = match.group(1)
        if match.group(0) == "$${":
            pieces.append("${")
        elif variable is None:
            found.append(
                (
                    loc,
                    "'${' without a variable name and '}' (write '$${' for a literal '${')",
                )
            )
            unexpanded.add(loc)
        elif variable in env:
            pieces.append(env[variable])
            substituted = True
        else:
            found.append((loc, f"environment variable {variable} is not set"))
            unexpanded.add(loc)
    pieces.append(data[position:])
    if not substituted:
        return "".join(pieces)
    result = Expanded("".join(pieces))
    result.source = data
    return result
