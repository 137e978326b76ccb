"""The main job run as a user runs it: `watcher check` against a local site, then the review commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import LocalServer
from watcher.cli import main

pytestmark = pytest.mark.e2e

TERMS = """<!doctype html><html><head><title>Terms</title>
<script>window.__ANALYTICS__ = {{"session": "{session}"}};</script>
<style>.x{{color:red}}</style></head>
<body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing</a></nav>
<div class="cookie-banner">We use cookies. <button>Accept</button></div>
<article>
<h1>Terms of Service</h1>
<p>Updated {updated}</p>
<p>Version Effective Date: June 23, 2025</p>
<h2>1. Introduction</h2>
<p>These Terms of Service govern the relationship between Example, Inc. and the person using the
services. Please read them carefully before you create anything with the service.</p>
<h2>4. Rights You give to Example</h2>
<p>{license}</p>
<h3>Stealth</h3>
<p>If You purchased the Stealth feature as part of Your “Pro” or “Mega” subscription, we agree to
make best efforts not to publish any Assets You make in any situation where you have engaged
stealth mode in the Services.</p>
<h2>5. Miscellaneous</h2>
<p>We may update these terms from time to time and will post the new version on this page, with
the date of the change at the top of the document.</p>
<p>Governing Law. This Agreement shall be governed by the laws of the State of California, USA,
without reference to conflict of law rules.</p>
</article>
<footer>© 2026 Example</footer>
</body></html>"""

LICENSE = (
    "By using the Services, You grant to Example a perpetual, worldwide, non-exclusive, "
    "royalty-free, irrevocable copyright license to reproduce, prepare derivative works of, "
    "publicly display and distribute the Content You input into the Services."
)
LICENSE_TRAINING = (
    "By using the Services, You grant to Example a perpetual, worldwide, non-exclusive, "
    "royalty-free, irrevocable copyright license to reproduce, prepare derivative works of, "
    "publicly display and distribute the Content You input into the Services, and to use it to "
    "train and improve our machine learning models."
)


def _page(
    license_text: str = LICENSE, updated: str = "2 days ago", session: str = "a1"
) -> str:
    return TERMS.format(license=license_text, updated=updated, session=session)


def _write_config(root: Path, url: str) -> Path:
    config = root / "config"
    (config / "platforms").mkdir(parents=True)
    (config / "watcher.yaml").write_text(
        f"""
storage:
  url: sqlite:///{root}/state/watcher.db
  snapshots_dir: {root}/state/snapshots
fetch: {{timeout: 2s, per_host_interval: 0s, retries: 1, retry_max_wait: 0.2s}}
notify:
  alert_after_failures: 3
""",
        encoding="utf-8",
    )
    (config / "platforms" / "example.yaml").write_text(
        f"""
name: Example
documents:
  terms:
    type: terms_of_service
    url: {url}
    select: [article]
    remove_text: ['updated \\d+ \\w+ ago']
    min_chars: 300
    version_marker: 'version effective date: (.+)'
""",
        encoding="utf-8",
    )
    return config


def _run(config: Path, *argv: str) -> int:
    return main(["--config", str(config), *argv])


def _json(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> object:
    capsys.readouterr()
    assert _run(config, *argv, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_check_detects_only_what_matters(
    http_server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http_server.set("/terms", _page())
    config = _write_config(tmp_path, url)

    # 1. baseline: stored, not a change
    assert _run(config, "check") == 0
    assert _json(capsys, config, "changes") == []
    history = _json(capsys, config, "history", "example/terms")
    assert isinstance(history, dict)
    assert len(history["snapshots"]) == 1
    assert history["snapshots"][0]["version_date"] == "June 23, 2025"

    # 2. cosmetic: whitespace, nbsp, curly quotes, a relative date, a script token -> nothing to alert
    cosmetic = (
        _page(updated="5 days ago", session="b2")
        .replace("  ", "   ")
        .replace("non-exclusive", "non\u2011exclusive")
        .replace("Stealth feature", "Stealth\u00a0feature")
    )
    http_server.set("/terms", cosmetic)
    assert _run(config, "check") == 0
    changes = _json(capsys, config, "changes")
    assert isinstance(changes, list)
    assert all(c["severity"] == "cosmetic" for c in changes)

    # 3. the training clause is rewritten: one alert change with training_use
    http_server.set("/terms", _page(LICENSE_TRAINING))
    assert _run(config, "check") == 0
    changes = _json(capsys, config, "changes")
    assert isinstance(changes, list)
    alerts = [c for c in changes if c["severity"] == "alert"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert "training_use" in alert["topics"]
    assert alert["document"] == "example/terms"
    assert alert["platform"] == "example"
    assert alert["reviewed"] is False
    assert alert["summary"].startswith("Example Terms of Service: ")
    assert "4. Rights You give to Example" in alert["summary"]
    capsys.readouterr()
    assert _run(config, "diff", str(alert["id"])) == 0
    shown = capsys.readouterr().out
    assert "4. Rights You give to Example" in shown
    assert "machine learning" in shown
    text_before = _show(capsys, config)

    # 4. the server fails: attempt recorded, earlier snapshot intact, no change
    http_server.set("/terms", "upstream down", status=503, content_type="text/plain")
    assert _run(config, "check") == 1
    assert _show(capsys, config) == text_before
    status = _json_status(capsys, config)
    row = next(r for r in status["documents"] if r["document"] == "example/terms")
    assert row["outcome"] == "failed"
    assert row["consecutive_failures"] == 1

    # 5. the page loses its <article>: an extraction failure, never a change to empty text
    http_server.set(
        "/terms",
        _page(LICENSE_TRAINING)
        .replace("<article>", "<div>")
        .replace("</article>", "</div>"),
    )
    assert _run(config, "check") == 1
    assert _show(capsys, config) == text_before
    changes_after = _json(capsys, config, "changes")
    assert changes_after == changes

    # 6. page restored: no spurious change
    http_server.set("/terms", _page(LICENSE_TRAINING, updated="1 hour ago"))
    assert _run(config, "check") == 0
    assert _json(capsys, config, "changes") == changes
    status = _json_status(capsys, config)
    row = next(r for r in status["documents"] if r["document"] == "example/terms")
    assert row["consecutive_failures"] == 0

    # review closes the loop
    assert _run(config, "review", str(alert["id"]), "--accept", "--note", "seen") == 0
    assert _json(capsys, config, "changes", "--unreviewed") == [
        c for c in changes if c["id"] != alert["id"]
    ]


def _show(capsys: pytest.CaptureFixture[str], config: Path) -> str:
    capsys.readouterr()
    assert _run(config, "show", "example/terms") == 0
    return capsys.readouterr().out


def _json_status(
    capsys: pytest.CaptureFixture[str], config: Path
) -> dict[str, list[dict[str, object]]]:
    capsys.readouterr()
    _run(config, "status", "--json")
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result, dict)
    return result


def test_unknown_target_is_a_usage_error(
    http_server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path, http_server.url("/terms"))
    assert _run(config, "check", "nosuch/doc") == 2
    assert "nosuch/doc" in capsys.readouterr().err
