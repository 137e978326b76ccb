"""The shape of the config files, as pydantic models; only ``watcher.config`` uses this module.

Contract: ``WatcherFile`` validates ``watcher.yaml`` and ``PlatformFile`` one
``platforms/<id>.yaml`` after ``${VAR}`` expansion. Unknown keys and wrong types are errors
(``extra="forbid"``), and every value that has a meaning of its own is checked where it
stands: durations and sizes parse, regexes compile, CSS selectors parse, crontab expressions
parse, URLs are http(s), time zones exist. References are checked against the validation
``context`` (a ``Context``): topic names, document names of the platform, platform ids. A
failed check raises ``ValueError``; pydantic collects them all with their key paths.

A string produced by ``${VAR}`` expansion arrives as an ``Expanded`` (``watcher._yaml``: a
``str`` subclass that remembers its source text); messages about it quote the source text
(``show``), never the value, so a secret never reaches an error message. Durations and sizes
are parsed by ``watcher._quantities`` (``parse_duration``, ``parse_size``).
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal, TypedDict
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
)
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from watcher._quantities import parse_duration, parse_size
from watcher._yaml import Expanded, show

__all__ = [
    "NAME_PATTERN",
    "ChannelModel",
    "Context",
    "DocumentModel",
    "EvidenceModel",
    "FactModel",
    "PatternModel",
    "PlatformFile",
    "WatcherFile",
    "check_platform",
    "check_watcher",
]

# Names become ids (midjourney/terms, midjourney.stealth-pro-mega-only) and directory names
# under snapshots/, so they are kept to lower-case letters, digits, '-', '_' and '.'.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]*")


class Context(TypedDict):
    """What the reference checks compare against."""

    topics: frozenset[str]  # default and configured topic names
    platforms: frozenset[str]  # platform ids (file stems)
    platform: str  # the platform of the file being validated ("" for watcher.yaml)
    documents: frozenset[str]  # that platform's document names


# --------------------------------------------------------------------------- value checks


def _duration(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f"not a duration: {show(value)}") from None


def _positive_duration(value: Any) -> timedelta:
    parsed = _duration(value)
    if parsed <= timedelta(0):
        raise ValueError(f"must be positive: {show(value)}")
    return parsed


def _seconds(value: Any) -> float:
    return _duration(value).total_seconds()


def _positive_seconds(value: Any) -> float:
    return _positive_duration(value).total_seconds()


def _positive_size(value: Any) -> int:
    try:
        parsed = parse_size(value)
    except ValueError:
        raise ValueError(f"not a size: {show(value)}") from None
    if parsed <= 0:
        raise ValueError(f"must be positive: {show(value)}")
    return parsed


def _regex(value: Any) -> Any:
    if isinstance(value, str):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


_CSS_PROBE = "<p></p>"


def _css(value: Any) -> Any:
    if isinstance(value, str) and not _valid_css(value):
        raise ValueError(f"not a valid CSS selector: {show(value)}")
    return value


@functools.lru_cache(maxsize=1024)  # a pack repeats its few selectors on every document
def _valid_css(selector: str) -> bool:
    try:
        LexborHTMLParser(_CSS_PROBE).css(selector)
    except SelectolaxError:
        return False
    return True


def _http_url(value: Any) -> Any:
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {show(value)}")
    return value


_SUNDAY_7 = re.compile(r"\b7\b")


def _cron(value: Any) -> Any:
    if isinstance(value, str):
        fields = value.split()
        if (
            len(fields) == 5
        ):  # crontab also writes Sunday as 7, which from_crontab refuses;
            fields[4] = _SUNDAY_7.sub("6", fields[4])  # 6 keeps the syntax (5-7 -> 5-6)
        # imported here: only a config with a crontab schedule needs APScheduler to load
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(" ".join(fields), timezone="UTC")
        except ValueError as exc:
            detail = "" if isinstance(value, Expanded) else f" ({exc})"
            raise ValueError(
                f"not a crontab expression: {show(value)}{detail}"
            ) from None
    return value


def _timezone(value: Any) -> Any:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {show(value)}") from None
    return value


def _name(value: Any) -> Any:
    if isinstance(value, str) and not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"not a valid name: {show(value)} (use a-z, 0-9, '-', '_', '.'; start with a letter or digit)"
        )
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _known(kind: Literal["topics", "platforms", "documents"], problem: str) -> Any:
    """A check that the name is in ``context[kind]``; ``problem`` is the message prefix."""

    def check(value: Any, info: ValidationInfo) -> Any:
        context = info.context
        if isinstance(value, str) and context and value not in context[kind]:
            raise ValueError(f"{problem} {show(value)}")
        return value

    return check


def _own_platform(value: Any, info: ValidationInfo) -> Any:
    context = info.context
    if isinstance(value, str) and context and value != context["platform"]:
        raise ValueError(
            f"is {show(value)} but the file is for platform {context['platform']!r}"
        )
    return value


Duration = Annotated[timedelta, PlainValidator(_duration)]
PositiveDuration = Annotated[timedelta, PlainValidator(_positive_duration)]
Seconds = Annotated[float, PlainValidator(_seconds)]
PositiveSeconds = Annotated[float, PlainValidator(_positive_seconds)]
Size = Annotated[int, PlainValidator(_positive_size)]
Regex = Annotated[str, BeforeValidator(_regex)]
Css = Annotated[str, BeforeValidator(_css)]
Cron = Annotated[str, BeforeValidator(_cron)]
Name = Annotated[str, BeforeValidator(_name)]
TopicRef = Annotated[str, BeforeValidator(_known("topics", "unknown topic"))]
PlatformRef = Annotated[str, BeforeValidator(_known("platforms", "unknown platform"))]
DocRef = Annotated[str, BeforeValidator(_known("documents", "no document"))]
Text = Annotated[str, Field(min_length=1)]
Secret = Text  # pydantic hands back a plain str; messages about it never quote it


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- watcher.yaml
# Field names are those of the records in watcher.models; None means "the record's default".


class StorageModel(_Model):
    url: Secret | None = None  # may carry a password: never quoted in a message
    snapshots_dir: Text | None = None


class FetchModel(_Model):
    timeout: PositiveSeconds | None = None
    max_bytes: Size | None = None
    concurrency: Annotated[int, Field(ge=1)] | None = None
    per_host_interval: Seconds | None = None
    user_agent: Text | None = None
    max_redirects: Annotated[int, Field(ge=0)] | None = None
    retries: Annotated[int, Field(ge=0)] | None = None
    retry_max_wait: PositiveSeconds | None = None


class ScheduleModel(_Model):
    every: PositiveDuration | None = None
    jitter: Duration | None = None


class TopicModel(_Model):
    patterns: tuple[Regex, ...]
    extend: bool = False


class ChannelModel(_Model):
    name: Text
    url: Secret
    topics: tuple[TopicRef, ...] | None = None
    platforms: tuple[PlatformRef, ...] | None = None
    min_severity: Literal["cosmetic", "notice", "alert"] = "alert"
    mode: Literal["immediate", "digest"] = "immediate"
    digest_every: Cron | None = None
    timezone: Annotated[str, BeforeValidator(_timezone)] = "UTC"


class NotifyModel(_Model):
    channels: tuple[ChannelModel, ...] = ()
    alert_after_failures: Annotated[int, Field(ge=1)] | None = None
    give_up_after: PositiveDuration | None = None


class WatcherFile(_Model):
    storage: StorageModel = StorageModel()
    fetch: FetchModel = FetchModel()
    schedule: ScheduleModel = ScheduleModel()
    topics: dict[Name, TopicModel] = {}
    notify: NotifyModel = NotifyModel()


# --------------------------------------------------------------------------- platforms/<id>.yaml

_OneOrMany = BeforeValidator(_one_or_many)


class DocumentModel(_Model):
    type: Text
    url: Annotated[str, BeforeValidator(_http_url)]
    format: Literal["html", "json", "markdown", "text"] | None = None
    json_field: Text | None = None
    select: Annotated[tuple[Css, ...], _OneOrMany] = ()
    remove: Annotated[tuple[Css, ...], _OneOrMany] = ()
    remove_text: Annotated[tuple[Regex, ...], _OneOrMany] = ()
    min_chars: Annotated[int, Field(ge=0)] | None = None
    version_marker: Regex | None = None
    every: PositiveDuration | None = None
    cron: Cron | None = None
    title: Text | None = None


class PatternModel(_Model):
    doc: DocRef
    pattern: Regex


class EvidenceModel(_Model):
    all_of: tuple[PatternModel, ...] = ()
    any_of: tuple[PatternModel, ...] = ()
    none_of: tuple[PatternModel, ...] = ()


class QuoteModel(_Model):
    doc: DocRef
    text: Text


class FactModel(_Model):
    id: Name
    platform: Annotated[str, BeforeValidator(_own_platform)] | None = None
    topic: TopicRef
    plans: tuple[Text, ...] = ()
    claim: Text
    guide_claim: Text | None = None
    verdict_vs_guide: (
        Literal["confirms", "partially_confirms", "contradicts", "unverified"] | None
    ) = None
    evidence: EvidenceModel = EvidenceModel()
    quote: QuoteModel | None = None
    verified: date | None = None
    notes: str | None = None


class PlatformFile(_Model):
    name: Text
    documents: dict[Name, DocumentModel]
    facts: tuple[FactModel, ...] = ()


# --------------------------------------------------------------------------- cross-checks
# Rules that tie several keys together. They read the raw (expanded) data and skip whatever
# has the wrong type, so they run, and report, even when the models above refuse the file.

Problem = tuple[tuple[Any, ...], str]  # (key path, message)


def _get(mapping: object, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


def _items(value: object, kind: type[list[Any]] | type[dict[Any, Any]]) -> list[Any]:
    """(index or key, item) pairs of ``value`` when it is a ``kind``, else none."""
    if not isinstance(value, kind):
        return []
    return list(value.items()) if isinstance(value, dict) else list(enumerate(value))


def _duplicates(items: list[Any], key: str, where: str, label: str) -> list[Problem]:
    """A problem for each item whose ``key`` repeats an earlier item's (list ``where``)."""
    found: list[Problem] = []
    first: dict[str, int] = {}
    for index, item in items:
        value = _get(item, key)
        if not isinstance(value, str):
            continue
        if value in first:
            message = (
                f"duplicate {label} {show(value)} (first at {where}[{first[value]}])"
            )
            found.append(((*where.split("."), index, key), message))
        first.setdefault(value, index)
    return found


def check_watcher(raw: object) -> list[Problem]:
    """Channel names are unique; ``digest_every`` goes with ``mode: digest`` and only with it."""
    channels = _items(_get(_get(raw, "notify"), "channels"), list)
    found = _duplicates(channels, "name", "notify.channels", "channel name")
    for index, channel in channels:
        loc = ("notify", "channels", index)
        digest = _get(channel, "mode") == "digest"
        has_every = _get(channel, "digest_every") is not None
        if digest and not has_every:
            found.append((loc, "mode digest needs digest_every"))
        elif has_every and not digest:
            found.append(((*loc, "digest_every"), "only used with mode digest"))
    return found


def check_platform(raw: object) -> list[Problem]:
    """``every`` xor ``cron``; ``json_field`` iff ``format: json``; fact ids unique; every
    fact has something to check."""
    found: list[Problem] = []
    for name, document in _items(_get(raw, "documents"), dict):
        loc = ("documents", name)
        if _get(document, "every") is not None and _get(document, "cron") is not None:
            found.append((loc, "every and cron cannot both be set"))
        is_json = _get(document, "format") == "json"
        has_field = _get(document, "json_field") is not None
        if is_json and not has_field:
            found.append((loc, "format json needs json_field"))
        elif has_field and not is_json:
            found.append(((*loc, "json_field"), "only used with format json"))
    facts = _items(_get(raw, "facts"), list)
    found += _duplicates(facts, "id", "facts", "fact id")
    for index, fact in facts:
        evidence = _get(fact, "evidence")
        has_patterns = isinstance(evidence, dict) and any(
            evidence.get(key) for key in ("all_of", "any_of", "none_of")
        )
        if isinstance(fact, dict) and not has_patterns and not fact.get("quote"):
            found.append((("facts", index), "needs evidence patterns or a quote"))
    return found
