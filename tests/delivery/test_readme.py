"""The README tells the truth: its commands, subcommands, flags, paths, routes and code exist and run."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from memories.cli import SUBCOMMANDS, build_parser

REPOSITORY = Path(__file__).resolve().parents[2]
README = (REPOSITORY / "README.md").read_text(encoding="utf-8")
PATH_PREFIXES = ("docs", "crds", "scripts", "helm", "deploy", "tests", "bench", "memories", ".ci")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {title}' section"
    return match[1]


def code_blocks(text: str = README, language: str | None = None) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if language is None or lang == language]


def code_text() -> str:
    """Inline code spans and fenced blocks (except diagrams): where commands and paths are written."""
    prose = FENCE.sub("", README)
    spans = re.findall(r"`([^`\n]+)`", prose)
    blocks = [body for lang, body in FENCE.findall(README) if lang != "mermaid"]
    return "\n".join(spans + blocks)


def subcommand_parser(command: str) -> argparse.ArgumentParser:
    parser = build_parser(command)
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]  # type: ignore[no-any-return]


def test_set_up_block_has_exactly_two_commands() -> None:
    blocks = code_blocks(section("Set up"), "bash")
    assert blocks, "the Set up section has no bash block"
    commands = [line for line in blocks[0].splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 2, commands
    assert "memories dev" in commands[0]
    assert commands[1].strip() == "bash scripts/test"


def test_every_memories_subcommand_in_the_readme_exists() -> None:
    mentioned = set(re.findall(r"(?:^|[\s/(])memories ([a-z][a-z-]*)", code_text(), re.MULTILINE))
    assert mentioned, "the README mentions no memories subcommand"
    assert sorted(mentioned - set(SUBCOMMANDS)) == []


def test_every_flag_of_a_memories_subcommand_in_the_readme_exists() -> None:
    for command, arguments in re.findall(
        r"memories ([a-z][a-z-]*)((?: --?[a-z][\w-]*(?:[ =][^\s`-]\S*)?)+)", code_text()
    ):
        known = {option for action in subcommand_parser(command)._actions for option in action.option_strings}
        flags = set(re.findall(r"--?[a-z][\w-]*", arguments))
        assert flags <= known, f"memories {command}: unknown flags {sorted(flags - known)}"


def test_every_repository_path_in_the_readme_exists() -> None:
    prefixes = "|".join(re.escape(prefix) for prefix in PATH_PREFIXES)
    in_code = re.findall(rf"(?<![\w./~-])((?:{prefixes})/[\w./-]*)", code_text())
    linked = re.findall(r"\]\(((?!https?:)[^)#]+)\)", README)
    paths = {path.rstrip(".") for path in in_code + linked}
    assert paths, "the README mentions no repository path"
    missing = sorted(path for path in paths if not (REPOSITORY / path).exists())
    assert missing == []


def test_every_sidecar_http_route_in_the_readme_is_in_the_openapi_contract() -> None:
    contract = yaml.safe_load((REPOSITORY / "memories" / "sidecar" / "openapi.yaml").read_text(encoding="utf-8"))
    # Path parameters match one segment, except {key}, which may contain slashes.
    patterns = [
        re.compile("^" + re.sub(r"\{(\w+)\}", lambda m: ".+" if m[1] == "key" else "[^/]+", path) + "$")
        for path in contract["paths"]
    ]
    routes = set(re.findall(r"127\.0\.0\.1:8750(/[^\s?'\"`]*)", README))
    assert routes, "the README shows no HTTP example"
    assert sorted(route for route in routes if not any(p.match(route) for p in patterns)) == []


def test_quick_start_code_runs(tmp_path: Path) -> None:
    blocks = code_blocks(section("Quick start: the engine"), "python")
    assert blocks, "the quick start has no python block"
    python = REPOSITORY / ".venv" / "bin" / "python"
    environment = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = subprocess.run(
        [str(python) if python.exists() else sys.executable, "-c", blocks[0]],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "expensive result" in result.stdout
