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

Layout: YAML reading and ``${VAR}`` expansion are in ``watcher._yaml``, the file shapes in
``watcher._schema``, durations and sizes in ``watcher._quantities``; this module reports.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from watcher._quantities import parse_duration, parse_size
from watcher._schema import (
    Context,
    PatternModel,
    PlatformFile,
    WatcherFile,
    check_platform,
    check_watcher,
)
from watcher._yaml import Loc, read_yaml, show
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
_FAILED = object()  # what _read returns for a file that could not be read or parsed

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


# --------------------------------------------------------------------------- reading


def _read(path: Path, rel: str, env: Mapping[str, str], problems: _Problems) -> Any:
    """The file's data with ``${VAR}`` expanded; ``_FAILED`` when it cannot be used at all."""
    read = read_yaml(path, env)
    for loc, message in read.problems:
        problems.add(rel, loc, message)
    problems.unexpanded.update((rel, loc) for loc in read.unexpanded)
    return _FAILED if read.failed else read.data


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
