"""Load and check the configuration directory; the only code that knows the YAML shape.

Contract: ``load_config(directory, environ) -> Config`` reads ``<dir>/watcher.yaml`` (optional:
missing means every default) and every ``<dir>/platforms/*.yaml`` (sorted; the platform id
is the file stem). The directory is the argument, else ``$WATCHER_CONFIG``, else
``./config``; ``$WATCHER_DB``, when set, overrides ``storage.url``. ``${VAR}`` in any string
value is replaced from ``environ`` before validation (``$${`` is a literal ``${``).

It raises ``ConfigError`` whose ``.problems`` lists every problem found, one line each:
``<file relative to the config dir>: <key path>: <what is wrong>``, e.g.
``platforms/midjourney.yaml: facts[2].evidence.all_of[0].doc: no document 'term'``. A value
that came from the environment is never quoted in a problem (its ``${VAR}`` source text is).

``parse_duration`` and ``parse_size`` are public for the CLI and the other stages.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from watcher._schema import (
    Context,
    Expanded,
    PatternModel,
    PlatformFile,
    WatcherFile,
    check_platform,
    check_watcher,
    parse_duration,
    parse_size,
    show,
)
from watcher.errors import ConfigError
from watcher.models import (
    Channel,
    Config,
    Document,
    Evidence,
    EvidencePattern,
    Fact,
    FetchSettings,
    NotifySettings,
    Platform,
    Quote,
    ScheduleSettings,
    Settings,
    StorageSettings,
)
from watcher.text import DEFAULT_TOPICS

__all__ = ["load_config", "parse_duration", "parse_size"]

logger = logging.getLogger(__name__)

_PLATFORM_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_FAILED = object()  # what _read returns for a file that could not be read or parsed
_MAX_VALUES = 100_000  # a config file is a few thousand values; more is an alias bomb

Loc = tuple[Any, ...]
_M = TypeVar("_M", bound=BaseModel)


def load_config(
    directory: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read, check and return the whole configuration.

    :raises ConfigError: anything wrong, every problem listed in ``.problems``.
    """
    env = os.environ if environ is None else environ
    root = Path(
        directory if directory is not None else env.get("WATCHER_CONFIG") or "config"
    )
    if not root.is_dir():
        raise ConfigError(f"{root}: config directory not found")
    problems = _Problems()
    paths = _platform_paths(root, problems)

    raw_settings: Any = {}
    if (root / "watcher.yaml").exists():
        raw_settings = _read(root / "watcher.yaml", "watcher.yaml", env, problems)
    raw_settings = {} if raw_settings is None else raw_settings
    context = Context(
        topics=frozenset(DEFAULT_TOPICS).union(_keys(_get(raw_settings, "topics"))),
        platforms=frozenset(path.stem for path in paths),
        platform="",
        documents=frozenset(),
    )
    watcher_file = None
    if raw_settings is not _FAILED:
        watcher_file = problems.validate(
            WatcherFile, raw_settings, "watcher.yaml", context
        )
        for loc, message in check_watcher(raw_settings):
            problems.add("watcher.yaml", loc, message)

    loaded: list[tuple[Path, PlatformFile]] = []
    names: dict[str, str] = {}  # casefolded platform name -> the file that has it
    for path in paths:
        rel = f"platforms/{path.name}"
        raw = _read(path, rel, env, problems)
        if raw is _FAILED:
            continue
        if raw is None:
            problems.add(rel, (), "the file is empty")
            continue
        context = Context(
            topics=context["topics"],
            platforms=context["platforms"],
            platform=path.stem,
            documents=_keys(_get(raw, "documents")),
        )
        model = problems.validate(PlatformFile, raw, rel, context)
        for loc, message in check_platform(raw):
            problems.add(rel, loc, message)
        name = _get(raw, "name")
        if isinstance(name, str) and name.casefold() in names:
            message = f"{show(name)} is also the name of {names[name.casefold()]}"
            problems.add(rel, ("name",), message)
        elif isinstance(name, str):
            names[name.casefold()] = rel
        if model is not None:
            loaded.append((path, model))

    if problems.lines or watcher_file is None:
        raise ConfigError(problems.lines)
    platforms = tuple(_platform(path, model) for path, model in loaded)
    logger.debug(
        "%s: %d platforms, %d documents, %d facts",
        root,
        len(platforms),
        sum(len(p.documents) for p in platforms),
        sum(len(p.facts) for p in platforms),
    )
    return Config(
        settings=_settings(watcher_file, env), platforms=platforms, directory=root
    )


def _platform_paths(root: Path, problems: _Problems) -> list[Path]:
    """``<root>/platforms/*.yaml``, sorted; a bad file name or a ``.yml`` is a problem."""
    folder = root / "platforms"
    if not folder.is_dir():
        logger.warning("%s: no platforms/ directory: nothing to watch", root)
        return []
    for stray in sorted(folder.glob("*.yml")):
        problems.add(f"platforms/{stray.name}", (), "platform files must end in .yaml")
    paths = [path for path in sorted(folder.glob("*.yaml")) if path.is_file()]
    for path in paths:
        if not _PLATFORM_ID.fullmatch(path.stem):
            message = "the file name is the platform id: use a-z, 0-9, '-' and '_'"
            problems.add(f"platforms/{path.name}", (), message)
    if not paths:
        logger.warning("%s: no platform files in platforms/: nothing to watch", root)
    return paths


# --------------------------------------------------------------------------- problems


def _path(loc: Loc) -> str:
    """``("facts", 2, "evidence")`` -> ``facts[2].evidence``; list indexes in brackets."""
    out = ""
    for index, part in enumerate(loc):
        if part == "[key]":  # pydantic marks a bad mapping key so; the key is the path
            continue
        is_key = loc[index + 1 : index + 2] == ("[key]",)
        if isinstance(part, int) and not isinstance(part, bool) and not is_key:
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _kind(value: object) -> str:
    if value is None:
        return "null"
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "a mapping",
    }
    if isinstance(value, str):
        return "a string"
    return next(
        (label for t, label in names.items() if type(value) is t),
        f"a {type(value).__name__}",
    )


_EXPECTED = {
    "string": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "tuple": "a list",
    "date": "a date (YYYY-MM-DD)",
}


def _message(error: Mapping[str, Any]) -> str:
    """One pydantic error in our words; a value is shown only through ``show``."""
    kind: str = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if tuple(error["loc"])[-1:] == ("[key]",):
        return f"a name must be a string, not {show(value)}"
    if kind == "missing":
        return "missing required key"
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "literal_error":
        return f"must be {ctx['expected']}, not {show(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, not {show(value)}"
    if kind == "int_from_float":
        return f"expected an integer, not {show(value)}"
    expected = _EXPECTED.get(kind.split("_", 1)[0])
    if expected and kind.endswith("_parsing"):
        return f"expected {expected}, not {show(value)}"
    if expected:
        return f"expected {expected}, got {_kind(value)}"
    return str(error["msg"])


class _Problems:
    """Every problem found so far, as finished lines; plus where ``${VAR}`` expansion failed."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.unexpanded: set[tuple[str, Loc]] = set()

    def add(self, rel: str, loc: Loc, message: str) -> None:
        where = _path(loc)
        self.lines.append(
            f"{rel}: {where}: {message}" if where else f"{rel}: {message}"
        )

    def validate(
        self, model: type[_M], data: object, rel: str, context: Context
    ) -> _M | None:
        try:
            return model.model_validate(data, context=context)
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                if any((rel, loc[:n]) in self.unexpanded for n in range(len(loc) + 1)):
                    continue  # already reported as a missing environment variable
                self.add(rel, loc, _message(error))
            return None


# --------------------------------------------------------------------------- YAML and ${VAR}


class _StrictLoader(yaml.SafeLoader):
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


def _read(path: Path, rel: str, env: Mapping[str, str], problems: _Problems) -> Any:
    """The file's data with ``${VAR}`` expanded; ``_FAILED`` when it cannot be used at all."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.add(rel, (), f"not UTF-8 text (byte {exc.start})")
        return _FAILED
    except OSError as exc:
        problems.add(rel, (), f"cannot read: {exc.strerror}")
        return _FAILED
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        found = loader.problems(node)
        for loc, message in found:
            problems.add(rel, loc, message)
        if any(not message.startswith("duplicate") for _, message in found):
            return _FAILED
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        during = ""
        if exc.problem and exc.context and exc.context_mark:
            during = f" ({exc.context} on line {exc.context_mark.line + 1})"
        problems.add(rel, (), f"{where}{exc.problem or exc.context}{during}")
        return _FAILED
    except yaml.YAMLError as exc:
        problems.add(rel, (), f"not valid YAML: {exc}")
        return _FAILED
    finally:
        loader.dispose()
    return _expand(data, (), rel, env, problems)


def _expand(
    data: Any, loc: Loc, rel: str, env: Mapping[str, str], problems: _Problems
) -> Any:
    if isinstance(data, dict):
        return {
            key: _expand(value, (*loc, key), rel, env, problems)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            _expand(item, (*loc, index), rel, env, problems)
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
            problems.add(
                rel,
                loc,
                "'${' without a variable name and '}' (write '$${' for a literal '${')",
            )
            problems.unexpanded.add((rel, loc))
        elif variable in env:
            pieces.append(env[variable])
            substituted = True
        else:
            problems.add(rel, loc, f"environment variable {variable} is not set")
            problems.unexpanded.add((rel, loc))
    pieces.append(data[position:])
    if not substituted:
        return "".join(pieces)
    result = Expanded("".join(pieces))
    result.source = data
    return result


def _get(mapping: object, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


def _keys(mapping: object) -> frozenset[str]:
    """The string keys of ``mapping`` when it is one: the names others may refer to."""
    if not isinstance(mapping, dict):
        return frozenset()
    return frozenset(key for key in mapping if isinstance(key, str))


# --------------------------------------------------------------------------- building


def _settings(model: WatcherFile, env: Mapping[str, str]) -> Settings:
    storage = model.storage.model_dump(exclude_none=True)
    if "snapshots_dir" in storage:
        storage["snapshots_dir"] = Path(storage["snapshots_dir"])
    if env.get("WATCHER_DB"):
        logger.info("storage.url is taken from WATCHER_DB")
        storage["url"] = env["WATCHER_DB"]
    topics = dict(DEFAULT_TOPICS)
    for name, topic in model.topics.items():
        topics[name] = (
            *(topics.get(name, ()) if topic.extend else ()),
            *topic.patterns,
        )
    notify = model.notify
    return Settings(
        storage=StorageSettings(**storage),
        fetch=FetchSettings(**model.fetch.model_dump(exclude_none=True)),
        schedule=ScheduleSettings(**model.schedule.model_dump(exclude_none=True)),
        topics=topics,
        notify=NotifySettings(
            channels=tuple(Channel(**c.model_dump()) for c in notify.channels),
            **notify.model_dump(exclude={"channels"}, exclude_none=True),
        ),
    )


def _patterns(items: tuple[PatternModel, ...]) -> tuple[EvidencePattern, ...]:
    return tuple(EvidencePattern(item.doc, item.pattern) for item in items)


def _platform(path: Path, model: PlatformFile) -> Platform:
    platform = path.stem
    documents = tuple(
        Document(
            platform=platform,
            name=name,
            platform_name=model.name,
            **doc.model_dump(exclude_none=True),
        )
        for name, doc in model.documents.items()
    )
    facts = tuple(
        Fact(
            platform=platform,
            name=fact.id,
            topic=fact.topic,
            claim=fact.claim,
            evidence=Evidence(
                _patterns(fact.evidence.all_of),
                _patterns(fact.evidence.any_of),
                _patterns(fact.evidence.none_of),
            ),
            plans=fact.plans,
            guide_claim=fact.guide_claim,
            quote=Quote(fact.quote.doc, fact.quote.text) if fact.quote else None,
            verified=fact.verified,
            notes=fact.notes,
            verdict_vs_guide=fact.verdict_vs_guide,
        )
        for fact in model.facts
    )
    return Platform(
        id=platform, name=model.name, documents=documents, facts=facts, source=path
    )
