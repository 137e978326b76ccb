"""The shape of the code and docs: stages stay apart, every command is helped and documented."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from watcher.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "watcher"

# A stage may import the shared records and helpers, never another stage.
SHARED = {"watcher", "watcher.models", "watcher.errors", "watcher.text"}
STAGES = {
    "config": {
        "watcher.config",
        "watcher._schema",
        "watcher._yaml",
        "watcher._quantities",
    },
    "fetch": {
        "watcher.fetch",
        "watcher.charset",
        "watcher._politeness",
        "watcher._body",
    },
    "extract": {"watcher.extract"},
    "store": {"watcher.store"},
    # compare: document diffs and fact verdicts, one pure stage in two modules
    "compare": {
        "watcher.compare",
        "watcher.evaluate",
        "watcher._cosmetic",
        "watcher._units",
        "watcher._seqdiff",
    },
    # digests read crontab expressions exactly as the scheduler does
    "notify": {"watcher.notify", "watcher.schedule"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("watcher")
        ):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("watcher"))
    return found


def _owner(module: str) -> str | None:
    for stage, prefixes in STAGES.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return stage
    return None


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_modules_do_not_import_other_stages(stage: str) -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if _owner(_module_name(path)) != stage:
            continue
        for imported in _imports(path):
            owner = _owner(imported)
            allowed = owner in (None, stage) or imported in SHARED
            assert allowed, f"{path.relative_to(ROOT)} imports {imported} ({owner})"


def test_every_subcommand_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    action = next(a for a in build_parser()._actions if a.dest == "command")
    commands = {c.dest: c.help for c in action._get_subactions()}  # type: ignore[attr-defined]
    assert len(commands) >= 15
    for name, text in commands.items():
        assert text, f"watcher {name} has no help text"
        assert re.search(rf"`watcher {name}\b", readme), (
            f"watcher {name} is not in README.md"
        )


def test_every_module_declares_its_public_names() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py" or "versions" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "from __future__ import annotations" in text, path
        if "migrations" not in path.parts:
            assert "__all__" in text, path


def test_readme_starts_with_setup_run_and_test_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    first = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    assert first[:2] == ["pip install -e '.[dev]'", "watcher check"]
    test_command = blocks[1].split("#")[0].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().splitlines()[-1] == test_command


def test_a_check_imports_no_module_it_does_not_use() -> None:
    """`watcher check` starts without the notifier, the scheduler, the charset detector or
    the PostgreSQL dialect: each costs tens of milliseconds on every one-off command, and
    is imported where it is first needed."""
    probe = (
        "import sys, watcher.cli; "
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in "
        "('apprise', 'apscheduler', 'charset_normalizer', 'alembic') "
        "or m.startswith('sqlalchemy.dialects.postgresql')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    assert loaded == []
