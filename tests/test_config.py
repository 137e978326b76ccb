"""config.load_config: the shipped pack loads, and every kind of bad file is refused with
``<file>: <key path>: <what is wrong>``, all problems at once, secrets never shown."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from watcher.config import load_config, parse_duration, parse_size
from watcher.errors import ConfigError
from watcher.text import DEFAULT_TOPICS

SHIPPED = Path(__file__).resolve().parents[1] / "config"

# A valid platform file; the cases below replace it or add to it.
ACME = """\
name: Acme
documents:
  terms:
    type: terms_of_service
    url: https://acme.example/terms
  help:
    type: help_article
    url: https://acme.example/help
facts:
  - id: public-by-default
    topic: gallery_default
    claim: Images are public by default.
    evidence:
      all_of: [{doc: terms, pattern: 'public by default'}]
    quote: {doc: terms, text: "Images are public by default."}
"""


def write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def problems(root: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ or {})
    return caught.value.problems


class _PlaceholderEnv(Mapping[str, str]):
    """Every ${VAR} the shipped pack may use resolves to a harmless placeholder."""

    def __getitem__(self, key: str) -> str:
        if key.startswith("WATCHER_"):
            raise KeyError(key)
        return f"placeholder-{key.lower()}"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and not key.startswith("WATCHER_")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


# --------------------------------------------------------------------------- the shipped pack


def test_shipped_config_loads_with_the_four_platforms() -> None:
    config = load_config(SHIPPED, _PlaceholderEnv())

    ids = {platform.id for platform in config.platforms}
    assert {"midjourney", "leonardo", "ideogram", "nightcafe"} <= ids
    for platform in config.platforms:
        assert platform.documents, platform.id
        assert platform.facts, platform.id
        names = {doc.name for doc in platform.documents}
        for fact in platform.facts:
            assert set(fact.documents()) <= names, fact.id


# --------------------------------------------------------------------------- one problem each

WATCHER_CASES: list[tuple[str, str, str]] = [
    (
        "bad-duration",
        "fetch: {timeout: 30 parsecs}\n",
        "watcher.yaml: fetch.timeout: not a duration: '30 parsecs'",
    ),
    (
        "zero-duration",
        "schedule: {every: 0s}\n",
        "watcher.yaml: schedule.every: must be positive: '0s'",
    ),
    (
        "bad-size",
        "fetch: {max_bytes: 5 parsecs}\n",
        "watcher.yaml: fetch.max_bytes: not a size: '5 parsecs'",
    ),
    (
        "wrong-type",
        "fetch: {concurrency: eight}\n",
        "watcher.yaml: fetch.concurrency: expected an integer, not 'eight'",
    ),
    (
        "unknown-section",
        "fetcher: {timeout: 10s}\n",
        "watcher.yaml: fetcher: unknown key",
    ),
    (
        "missing-var",
        "notify:\n  channels:\n    - {name: slack, url: '${SLACK_WEBHOOK_URL}'}\n",
        "watcher.yaml: notify.channels[0].url: environment variable SLACK_WEBHOOK_URL is not set",
    ),
    (
        "channel-unknown-topic",
        "notify:\n  channels:\n    - {name: a, url: 'json://h', topics: [pricing, trainnig_use]}\n",
        "watcher.yaml: notify.channels[0].topics[1]: unknown topic 'trainnig_use'",
    ),
    (
        "channel-unknown-platform",
        "notify:\n  channels:\n    - {name: a, url: 'json://h', platforms: [acme, zeta]}\n",
        "watcher.yaml: notify.channels[0].platforms[1]: unknown platform 'zeta'",
    ),
    (
        "channel-bad-severity",
        "notify:\n  channels:\n    - {name: a, url: 'json://h', min_severity: urgent}\n",
        "watcher.yaml: notify.channels[0].min_severity: must be 'cosmetic', 'notice' or 'alert', not 'urgent'",
    ),
    (
        "duplicate-channel",
        "notify:\n  channels:\n    - {name: a, url: 'json://h'}\n    - {name: a, url: 'json://i'}\n",
        "watcher.yaml: notify.channels[1].name: duplicate channel name 'a' (first at notify.channels[0])",
    ),
    (
        "digest-without-schedule",
        "notify:\n  channels:\n    - {name: a, url: 'json://h', mode: digest}\n",
        "watcher.yaml: notify.channels[0]: mode digest needs digest_every",
    ),
    (
        "bad-digest-cron",
        "notify:\n  channels:\n    - {name: a, url: 'json://h', mode: digest, digest_every: '0 9 * *'}\n",
        "watcher.yaml: notify.channels[0].digest_every: not a crontab expression: '0 9 * *' (Wrong number of fields; got 4, expected 5)",
    ),
    (
        "bad-timezone",
        "notify:\n  channels:\n    - {name: a, url: 'json://h', timezone: Mars/Olympus}\n",
        "watcher.yaml: notify.channels[0].timezone: unknown time zone: 'Mars/Olympus'",
    ),
    (
        "bad-topic-regex",
        "topics:\n  pricing: {patterns: ['(per month']}\n",
        "watcher.yaml: topics.pricing.patterns[0]: not a valid regular expression: missing ), unterminated subpattern at position 0",
    ),
    (
        "malformed-reference",
        "fetch: {user_agent: 'watcher ${ x'}\n",
        "watcher.yaml: fetch.user_agent: '${' without a variable name and '}' (write '$${' for a literal '${')",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in WATCHER_CASES],
    ids=[case[0] for case in WATCHER_CASES],
)
def test_a_bad_watcher_yaml_is_refused_with_file_key_and_reason(
    tmp_path: Path, text: str, expected: str
) -> None:
    write(tmp_path, {"watcher.yaml": text, "platforms/acme.yaml": ACME})
    assert problems(tmp_path) == [expected]


def _document(extra: str) -> str:
    """ACME with ``extra`` (YAML lines, indented as keys of documents.terms) added to terms."""
    return ACME.replace(
        "    url: https://acme.example/terms\n",
        "    url: https://acme.example/terms\n" + textwrap.indent(extra, "    "),
    )


PLATFORM_CASES: list[tuple[str, str, str]] = [
    (
        "unknown-key",
        _document("selectt: [main]\n"),
        "platforms/acme.yaml: documents.terms.selectt: unknown key",
    ),
    (
        "wrong-type",
        _document("min_chars: many\n"),
        "platforms/acme.yaml: documents.terms.min_chars: expected an integer, not 'many'",
    ),
    (
        "wrong-container",
        ACME.replace("name: Acme", "name: [Acme]"),
        "platforms/acme.yaml: name: expected a string, got a list",
    ),
    (
        "missing-required",
        ACME.replace("    type: help_article\n", ""),
        "platforms/acme.yaml: documents.help.type: missing required key",
    ),
    (
        "negative-min-chars",
        _document("min_chars: -1\n"),
        "platforms/acme.yaml: documents.terms.min_chars: must be at least 0, not -1",
    ),
    (
        "bad-regex",
        _document("remove_text: ['updated (\\w+ ago']\n"),
        "platforms/acme.yaml: documents.terms.remove_text[0]: not a valid regular expression: missing ), unterminated subpattern at position 8",
    ),
    (
        "bad-version-marker",
        _document("version_marker: 'effective [date'\n"),
        "platforms/acme.yaml: documents.terms.version_marker: not a valid regular expression: unterminated character set at position 10",
    ),
    (
        "bad-css",
        _document("select: [main, 'div[']\n"),
        "platforms/acme.yaml: documents.terms.select[1]: not a valid CSS selector: 'div['",
    ),
    (
        "bad-css-remove",
        _document("remove: 'nav >'\n"),
        "platforms/acme.yaml: documents.terms.remove[0]: not a valid CSS selector: 'nav >'",
    ),
    (
        "duplicate-document",
        ACME.replace("  help:\n", "  terms:\n"),
        "platforms/acme.yaml: documents: duplicate key 'terms' on line 6 (first on line 3)",
    ),
    (
        "duplicate-fact",
        ACME + ACME[ACME.index("  - id:") :],
        "platforms/acme.yaml: facts[1].id: duplicate fact id 'public-by-default' (first at facts[0])",
    ),
    (
        "json-without-field",
        _document("format: json\n"),
        "platforms/acme.yaml: documents.terms: format json needs json_field",
    ),
    (
        "field-without-json",
        _document("json_field: article.body\n"),
        "platforms/acme.yaml: documents.terms.json_field: only used with format json",
    ),
    (
        "bad-format",
        _document("format: pdf\n"),
        "platforms/acme.yaml: documents.terms.format: must be 'html', 'json', 'markdown' or 'text', not 'pdf'",
    ),
    (
        "every-and-cron",
        _document("every: 12h\ncron: '0 6 * * *'\n"),
        "platforms/acme.yaml: documents.terms: every and cron cannot both be set",
    ),
    (
        "bad-cron",
        _document("cron: '61 * * * *'\n"),
        "platforms/acme.yaml: documents.terms.cron: not a crontab expression: '61 * * * *' (Error validating expression '61': the last value (61) is higher than the maximum value (59))",
    ),
    (
        "bad-every",
        _document("every: often\n"),
        "platforms/acme.yaml: documents.terms.every: not a duration: 'often'",
    ),
    (
        "non-http-url",
        ACME.replace("https://acme.example/help", "ftp://acme.example/help"),
        "platforms/acme.yaml: documents.help.url: not an http(s) URL: 'ftp://acme.example/help'",
    ),
    (
        "unknown-topic",
        ACME.replace("topic: gallery_default", "topic: gallery"),
        "platforms/acme.yaml: facts[0].topic: unknown topic 'gallery'",
    ),
    (
        "dangling-quote-doc",
        ACME.replace("quote: {doc: terms", "quote: {doc: tos"),
        "platforms/acme.yaml: facts[0].quote.doc: no document 'tos'",
    ),
    (
        "foreign-platform",
        ACME.replace(
            "  - id: public-by-default\n",
            "  - id: public-by-default\n    platform: zeta\n",
        ),
        "platforms/acme.yaml: facts[0].platform: is 'zeta' but the file is for platform 'acme'",
    ),
    (
        "bad-verdict",
        ACME.replace("    topic:", "    verdict_vs_guide: agrees\n    topic:"),
        "platforms/acme.yaml: facts[0].verdict_vs_guide: must be 'confirms', 'partially_confirms', 'contradicts' or 'unverified', not 'agrees'",
    ),
    (
        "nothing-to-check",
        ACME[: ACME.index("    evidence:")],
        "platforms/acme.yaml: facts[0]: needs evidence patterns or a quote",
    ),
    (
        "yaml-syntax",
        ACME.replace(
            "    url: https://acme.example/help", "    url: [https://acme.example/help"
        ),
        "platforms/acme.yaml: line 9, column 6: expected ',' or ']', but got ':' (while parsing a flow sequence on line 8)",
    ),
    (
        "yaml-tab",
        ACME.replace("    type: help_article", "\ttype: help_article"),
        "platforms/acme.yaml: line 7, column 1: found character '\\t' that cannot start any token",
    ),
    (
        "recursive-alias",
        ACME + "extra: &loop [1, *loop]\n",
        "platforms/acme.yaml: extra[1]: recursive alias on line 16",
    ),
    (
        "alias-bomb",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, n in zip("abcdefg", "bcdefgh", strict=True)
        ),
        "platforms/acme.yaml: aliases expand to more than 100000 values",
    ),
    (
        "empty-file",
        "",
        "platforms/acme.yaml: the file is empty",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in PLATFORM_CASES],
    ids=[case[0] for case in PLATFORM_CASES],
)
def test_a_bad_platform_file_is_refused_with_file_key_and_reason(
    tmp_path: Path, text: str, expected: str
) -> None:
    write(tmp_path, {"platforms/acme.yaml": text})
    assert problems(tmp_path) == [expected]


def test_a_dangling_evidence_doc_names_fact_list_and_index(tmp_path: Path) -> None:
    fact = ACME[ACME.index("  - id:") :]
    facts = (
        fact
        + fact.replace("public-by-default", "second")
        + fact.replace("public-by-default", "third").replace(
            "{doc: terms, pattern", "{doc: term, pattern"
        )
    )
    write(tmp_path, {"platforms/midjourney.yaml": ACME.replace(fact, facts)})

    assert problems(tmp_path) == [
        "platforms/midjourney.yaml: facts[2].evidence.all_of[0].doc: no document 'term'"
    ]


def test_platform_files_are_named_by_id_and_names_are_unique(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "platforms/acme.yaml": ACME,
            "platforms/acme-copy.yaml": ACME.replace("name: Acme", "name: ACME"),
            "platforms/Acme Two.yaml": ACME.replace("name: Acme", "name: Acme Two"),
            "platforms/zeta.yml": ACME,
        },
    )

    assert problems(tmp_path) == [
        "platforms/zeta.yml: platform files must end in .yaml",
        "platforms/Acme Two.yaml: the file name is the platform id: use a-z, 0-9, '-' and '_'",
        "platforms/acme.yaml: name: 'Acme' is also the name of platforms/acme-copy.yaml",
    ]


def test_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    assert problems(tmp_path / "nowhere") == [
        f"{tmp_path / 'nowhere'}: config directory not found"
    ]


# --------------------------------------------------------------------------- all at once


def test_every_problem_in_every_file_is_reported(tmp_path: Path) -> None:
    broken = (
        ACME.replace(
            "    type: help_article\n", "    type: help_article\n    colour: blue\n"
        )
        .replace(
            "url: https://acme.example/terms",
            "url: https://acme.example/terms\n    select: ['div[']",
        )
        .replace(
            "{doc: terms, pattern: 'public by default'}",
            "{doc: term, pattern: '(public'}",
        )
    )
    broken += broken[broken.index("  - id:") :].replace("gallery_default", "gallery")
    write(
        tmp_path,
        {
            "watcher.yaml": "fetch: {timeout: 30 parsecs, retries: -1}\n",
            "platforms/acme.yaml": broken,
            "platforms/beta.yaml": ACME.replace("Acme", "Beta").replace(
                "https://", "gopher://"
            ),
        },
    )

    assert sorted(problems(tmp_path)) == sorted(
        [
            "watcher.yaml: fetch.timeout: not a duration: '30 parsecs'",
            "watcher.yaml: fetch.retries: must be at least 0, not -1",
            "platforms/acme.yaml: documents.terms.select[0]: not a valid CSS selector: 'div['",
            "platforms/acme.yaml: documents.help.colour: unknown key",
            "platforms/acme.yaml: facts[0].evidence.all_of[0].doc: no document 'term'",
            "platforms/acme.yaml: facts[0].evidence.all_of[0].pattern: not a valid regular expression: missing ), unterminated subpattern at position 0",
            "platforms/acme.yaml: facts[1].evidence.all_of[0].doc: no document 'term'",
            "platforms/acme.yaml: facts[1].evidence.all_of[0].pattern: not a valid regular expression: missing ), unterminated subpattern at position 0",
            "platforms/acme.yaml: facts[1].topic: unknown topic 'gallery'",
            "platforms/acme.yaml: facts[1].id: duplicate fact id 'public-by-default' (first at facts[0])",
            "platforms/beta.yaml: documents.terms.url: not an http(s) URL: 'gopher://acme.example/terms'",
            "platforms/beta.yaml: documents.help.url: not an http(s) URL: 'gopher://acme.example/help'",
        ]
    )


def test_every_duplicate_key_is_reported_with_its_lines(tmp_path: Path) -> None:
    text = ACME.replace("  help:\n", "  terms:\n").replace(
        "    claim:", "    topic: pricing\n    claim:"
    )
    write(tmp_path, {"platforms/acme.yaml": text})

    assert problems(tmp_path) == [
        "platforms/acme.yaml: documents: duplicate key 'terms' on line 6 (first on line 3)",
        "platforms/acme.yaml: facts[0]: duplicate key 'topic' on line 12 (first on line 11)",
    ]


# --------------------------------------------------------------------------- secrets


def test_secrets_from_the_environment_never_appear_in_problems_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/s3cr3t-w3bh00k",
        "SMTP_PASSWORD": "hunter2-pa55word",
        "SEVERITY": "loud-s3cr3t",
        "TIMEOUT": "tim3out-s3cr3t",
    }
    write(
        tmp_path,
        {
            "watcher.yaml": """\
                storage: {url: 'postgresql+psycopg://watcher:${SMTP_PASSWORD}@db/watcher'}
                fetch: {timeout: '${TIMEOUT}'}
                notify:
                  channels:
                    - name: slack
                      url: '${SLACK_WEBHOOK_URL}'
                      min_severity: '${SEVERITY}'
                    - name: mail
                      url: 'mailtos://u:${SMTP_PASSWORD}@smtp.example.com'
                      mode: weekly
                      bogus: '${SMTP_PASSWORD}'
                    - name: mail2
                      url: 'mailtos://u:${SMTP_PASSWORD}@smtp.example.com?to=${MISSING}'
            """,
            "platforms/acme.yaml": ACME,
        },
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ)

    text = "\n".join([str(caught.value), *caught.value.problems, caplog.text])
    for secret in environ.values():
        assert secret not in text
    assert caught.value.problems == [
        "watcher.yaml: notify.channels[2].url: environment variable MISSING is not set",
        "watcher.yaml: fetch.timeout: not a duration: '${TIMEOUT}'",
        "watcher.yaml: notify.channels[0].min_severity: must be 'cosmetic', 'notice' or 'alert', not '${SEVERITY}'",
        "watcher.yaml: notify.channels[1].mode: must be 'immediate' or 'digest', not 'weekly'",
        "watcher.yaml: notify.channels[1].bogus: unknown key",
    ]


def test_channel_urls_are_expanded_and_dollar_dollar_is_literal(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "watcher.yaml": """\
                fetch: {user_agent: 'watcher $${not-a-var}'}
                notify:
                  channels:
                    - {name: slack, url: '${SLACK_WEBHOOK_URL}'}
                    - {name: mail, url: 'mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.com'}
            """,
            "platforms/acme.yaml": ACME,
        },
    )
    environ = {
        "SLACK_WEBHOOK_URL": "slack://T0/B0/abc",
        "SMTP_USER": "me",
        "SMTP_PASSWORD": "pw",
    }

    settings = load_config(tmp_path, environ).settings

    assert [c.url for c in settings.notify.channels] == [
        "slack://T0/B0/abc",
        "mailtos://me:pw@smtp.example.com",
    ]
    assert settings.fetch.user_agent == "watcher ${not-a-var}"
    assert "pw" not in repr(settings.notify.channels[1])


# --------------------------------------------------------------------------- environment


def test_the_directory_comes_from_the_argument_then_watcher_config_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, label in (("one", "One"), ("two", "Two"), ("cwd/config", "Cwd")):
        write(
            tmp_path / name,
            {"platforms/acme.yaml": ACME.replace("name: Acme", f"name: {label}")},
        )
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.delenv("WATCHER_CONFIG", raising=False)
    env = {"WATCHER_CONFIG": str(tmp_path / "two")}

    assert load_config(tmp_path / "one", env).platforms[0].name == "One"
    assert load_config(None, env).platforms[0].name == "Two"
    assert load_config(None, {}).platforms[0].name == "Cwd"
    monkeypatch.setenv("WATCHER_CONFIG", str(tmp_path / "one"))
    assert load_config().platforms[0].name == "One"  # os.environ by default


def test_watcher_db_overrides_storage_url(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "watcher.yaml": "storage: {url: 'sqlite:///state/w.db', snapshots_dir: state/raw}\n",
            "platforms/acme.yaml": ACME,
        },
    )

    plain = load_config(tmp_path, {}).settings.storage
    overridden = load_config(
        tmp_path, {"WATCHER_DB": "postgresql+psycopg://w@localhost/w"}
    ).settings.storage

    assert (
        plain.url == "sqlite:///state/w.db"
    )  # relative: left for the working directory
    assert plain.snapshots_dir == Path("state/raw")
    assert overridden.url == "postgresql+psycopg://w@localhost/w"


def test_without_watcher_yaml_every_setting_is_the_default(tmp_path: Path) -> None:
    write(tmp_path, {"platforms/acme.yaml": ACME})

    config = load_config(tmp_path, {})

    assert config.settings.storage.url == "sqlite:///snapshots/watcher.db"
    assert config.settings.storage.snapshots_dir == Path("snapshots")
    assert config.settings.schedule.every == timedelta(hours=6)
    assert config.settings.topics == DEFAULT_TOPICS
    assert config.settings.notify.channels == ()


def test_settings_and_documents_carry_the_parsed_values(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "watcher.yaml": """\
                fetch: {timeout: 1m30s, max_bytes: 1MiB, per_host_interval: 500ms}
                schedule: {every: 1d, jitter: 0}
                notify:
                  give_up_after: 2d
                  channels:
                    - {name: digest, url: 'json://h', mode: digest, digest_every: '0 9 * * 1-5',
                       timezone: Europe/London, topics: [pricing], platforms: [acme]}
            """,
            "platforms/acme.yaml": _document(
                "format: json\njson_field: article.body\nselect: article\nevery: 12h\n"
            ),
        },
    )

    config = load_config(tmp_path, {})

    fetch = config.settings.fetch
    assert (fetch.timeout, fetch.max_bytes, fetch.per_host_interval) == (
        90.0,
        1 << 20,
        0.5,
    )
    assert config.settings.schedule.jitter == timedelta(0)
    channel = config.settings.notify.channels[0]
    assert (channel.mode, channel.digest_every, channel.timezone) == (
        "digest",
        "0 9 * * 1-5",
        "Europe/London",
    )
    assert (channel.topics, channel.platforms) == (("pricing",), ("acme",))
    terms = config.document("acme/terms")
    assert terms is not None
    assert (terms.format, terms.json_field, terms.select, terms.every) == (
        "json",
        "article.body",
        ("article",),
        timedelta(hours=12),
    )
    fact = config.facts()[0]
    assert fact.id == "acme.public-by-default"
    assert fact.evidence.all_of[0].doc == "terms"


def test_cron_is_read_as_crontab_writes_it(tmp_path: Path) -> None:
    write(tmp_path, {"platforms/acme.yaml": _document("cron: '30 6 * * 1-5,7'\n")})

    terms = load_config(tmp_path, {}).document("acme/terms")

    assert terms is not None
    assert terms.cron == "30 6 * * 1-5,7"  # Sunday as 7 is crontab's, kept as written
    assert terms.every is None


# --------------------------------------------------------------------------- topics


def test_topics_replace_extend_or_add(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "watcher.yaml": """\
                topics:
                  training_use: {patterns: ['\\bdataset']}
                  retention: {extend: true, patterns: ['\\bpurge']}
                  data_location: {patterns: ['\\bhosted in']}
            """,
            "platforms/acme.yaml": ACME.replace(
                "topic: gallery_default", "topic: data_location"
            ),
        },
    )

    config = load_config(tmp_path, {})
    topics = config.settings.topics

    assert topics["training_use"] == ("\\bdataset",)
    assert topics["retention"] == (*DEFAULT_TOPICS["retention"], "\\bpurge")
    assert topics["data_location"] == ("\\bhosted in",)
    assert topics["pricing"] == DEFAULT_TOPICS["pricing"]
    assert config.facts()[0].topic == "data_location"


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("6h", 21600),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("1.5h", 5400),
        ("500ms", 0.5),
        ("2w", 1209600),
        (45, 45),
        ("90", 90),
        (2.5, 2.5),
    ],
)
def test_parse_duration(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "30 parsecs", "1h30", "-5s", "5s ago", -1])
def test_parse_duration_refuses(text: str | int) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("5MB", 5_000_000),
        ("512KB", 512_000),
        ("1GiB", 1 << 30),
        ("64 KiB", 65536),
        (1024, 1024),
        ("2048", 2048),
        ("1.5mb", 1_500_000),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "5 parsecs", "-1KB", -1])
def test_parse_size_refuses(text: str | int) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)
