"""The shipped systemd unit: it verifies cleanly and its sandbox scores 2.0 or lower."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "watcher.service"
INSTALLED = "/opt/policy-watcher/bin/watcher"  # where systemd/README.md installs it
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed on this machine",
)


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED in text
    # verify insists that ExecStart exists: point it at this interpreter instead of the venv
    unit = tmp_path / "watcher.service"
    unit.write_text(text.replace(INSTALLED, f"{sys.executable} -m watcher"), "utf-8")
    result = analyze("verify", "--man=no", str(unit))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_unit_sandbox_exposure_is_at_most_2() -> None:
    result = analyze("security", "--offline=true", "--no-pager", str(UNIT))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_unit_runs_the_daemon_as_a_restartable_notify_service() -> None:
    settings = dict(
        re.findall(r"^(\w+)=(.*)$", UNIT.read_text(encoding="utf-8"), re.MULTILINE)
    )
    assert settings["Type"] == "notify"
    assert settings["Restart"] == "on-failure"
    assert settings["ExecStart"].endswith(" run")
    assert settings["User"] == "watcher"  # not root
    assert settings["StateDirectory"] == "watcher"
    assert settings["ProtectSystem"] == "strict"
