"""The shipped pack against a local mirror of every vendor site: verdicts, and a verdict that moves."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import DATA, LocalServer
from watcher.cli import main
from watcher.config import load_config
from watcher.store import SnapshotStore

pytestmark = pytest.mark.e2e

SHIPPED = Path(__file__).resolve().parents[1] / "config"
SITE = DATA / "site"
CONTENT_TYPES = {
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


@pytest.fixture
def mirror(
    tmp_path: Path,
) -> Iterator[tuple[Path, dict[str, LocalServer], dict[str, str]]]:
    """The shipped config copied to tmp_path with every vendor host served locally.

    One local server per vendor host (paths such as /pricing exist on several hosts).
    Returns the config dir, the servers by host, and the URL path of every document id.
    """
    config = tmp_path / "config"
    shutil.copytree(SHIPPED, config)
    shipped = load_config(SHIPPED, environ={})
    servers: dict[str, LocalServer] = {}
    paths: dict[str, str] = {}
    for doc in shipped.documents():
        parts = urlsplit(doc.url)
        if parts.netloc not in servers:
            servers[parts.netloc] = LocalServer()
            servers[parts.netloc].start()
        mirror_file = next((SITE / doc.platform).glob(f"{doc.name}.*"))
        servers[parts.netloc].set(
            parts.path,
            mirror_file.read_bytes(),
            content_type=CONTENT_TYPES[mirror_file.suffix],
        )
        paths[doc.id] = parts.path
    for platform_file in (config / "platforms").glob("*.yaml"):
        text = platform_file.read_text(encoding="utf-8")
        for host, server in servers.items():
            text = re.sub(
                rf"https?://{re.escape(host)}(?=[/'\"\s])",
                server.url("").rstrip("/"),
                text,
            )
        platform_file.write_text(text, encoding="utf-8")
    (config / "watcher.yaml").write_text(
        f"""
storage: {{url: 'sqlite:///{tmp_path}/state/watcher.db', snapshots_dir: '{tmp_path}/state/snapshots'}}
fetch: {{timeout: 5s, per_host_interval: 0s, retries: 0}}
""",
        encoding="utf-8",
    )
    try:
        yield config, servers, paths
    finally:
        for server in servers.values():
            server.stop()


def _facts(
    capsys: pytest.CaptureFixture[str], config: Path
) -> dict[str, dict[str, object]]:
    capsys.readouterr()
    assert main(["--config", str(config), "facts", "--json"]) == 0
    return {row["id"]: row for row in json.loads(capsys.readouterr().out)}


def test_every_shipped_fact_gets_its_expected_verdict_and_a_moved_verdict_alerts(
    mirror: tuple[Path, dict[str, LocalServer], dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, servers, paths = mirror
    assert main(["--config", str(config), "check", "--no-notify"]) == 0
    expected = yaml.safe_load(
        (SITE / "expected_verdicts.yaml").read_text(encoding="utf-8")
    )
    facts = _facts(capsys, config)
    assert set(facts) == set(expected)
    wrong = {
        fid: (row["verdict"], expected[fid]["verdict"])
        for fid, row in facts.items()
        if row["verdict"] != expected[fid]["verdict"]
    }
    assert wrong == {}
    stealth = facts["midjourney.stealth-pro-mega-only"]
    assert stealth["document"] == "midjourney/terms"
    evidence = stealth["evidence"]
    assert isinstance(evidence, dict)
    assert "Pro" in str(evidence["text"])
    assert stealth["checked_at"]

    # Midjourney opens Stealth to every plan: the fact breaks, and the change says so.
    stealth_help = load_config(SHIPPED, environ={}).document("midjourney/stealth-help")
    assert stealth_help is not None
    host = urlsplit(stealth_help.url).netloc
    article = json.loads(
        (SITE / "midjourney" / "stealth-help.json").read_text(encoding="utf-8")
    )
    body = article["article"]["body"]
    edited = re.sub(
        r"Stealth mode is available only to Pro and Mega Plan members\.",
        "Stealth mode is now available to all plans, including Basic and Standard.",
        body,
    )
    assert edited != body
    article["article"]["body"] = edited
    servers[host].set(
        paths["midjourney/stealth-help"],
        json.dumps(article),
        content_type="application/json",
    )
    assert main(["--config", str(config), "check", "midjourney", "--no-notify"]) == 0

    facts = _facts(capsys, config)
    assert facts["midjourney.stealth-pro-mega-only"]["verdict"] == "broken"
    reasons = facts["midjourney.stealth-pro-mega-only"]["reasons"]
    assert isinstance(reasons, list)
    assert any("none_of" in r and "HIT" in r for r in reasons)

    capsys.readouterr()
    assert main(["--config", str(config), "changes", "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)
    assert len(changes) == 1
    change = changes[0]
    assert change["document"] == "midjourney/stealth-help"
    assert change["severity"] == "alert"
    assert "private_mode" in change["topics"]
    assert "midjourney.stealth-pro-mega-only" in change["facts"]

    # the alert waiting in the outbox names the fact (the notifier will send it)
    store = SnapshotStore(
        f"sqlite:///{config.parent}/state/watcher.db",
        config.parent / "state" / "snapshots",
    )
    try:
        subjects = [e.event.subject for e in store.pending_events()]
    finally:
        store.close()
    assert any('fact "stealth-pro-mega-only" now broken' in s for s in subjects), (
        subjects
    )
