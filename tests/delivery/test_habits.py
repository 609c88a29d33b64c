"""The developer commands stay what the README says: `make lint` is CI's linting, `make test-fast` needs no set-up,
the pre-commit hooks check the same files with the same tools, and `make kind` still runs scripts/kind-up."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
LINT_SCRIPT = REPOSITORY / "scripts" / "lint"


def make_commands(target: str) -> list[str]:
    """The commands ``make <target>`` would run (``make -n``), one per line."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.splitlines()


def lint_python_sources() -> list[str]:
    match = re.search(r"^python_sources=\((.*)\)$", LINT_SCRIPT.read_text(), re.MULTILINE)
    assert match, "scripts/lint has no python_sources=(...) array"
    return shlex.split(match[1])


def test_make_lint_and_ci_run_the_one_lint_script() -> None:
    assert make_commands("lint") == ["bash scripts/lint"]
    ci = (REPOSITORY / ".ci" / "run").read_text()
    assert "\nbash scripts/lint\n" in ci
    assert not re.search(r"^\s*(\.venv/bin/)?(ruff|mypy|shellcheck)\b", ci, re.MULTILINE), "lint only in scripts/lint"


def test_lint_script_runs_every_linter_on_every_source() -> None:
    script = LINT_SCRIPT.read_text()
    for command in ('ruff check "${python_sources[@]}"', 'ruff format --check "${python_sources[@]}"', "mypy\n"):
        assert command in script
    assert "shellcheck" in script
    assert lint_python_sources() == ["memories", "tests", "bench", "scripts/generate"]


def test_make_test_fast_runs_unit_and_sidecar_tests_without_set_up_or_control_plane() -> None:
    [command] = make_commands("test-fast")
    arguments = shlex.split(command)
    assert arguments[:3] == [".venv/bin/python", "-m", "pytest"]
    assert arguments[arguments.index("-m", 3) + 1] == "not controlplane and not realnode"
    assert arguments[-2:] == ["tests/unit", "tests/sidecar"]
    assert "setup" not in command


def test_make_kind_runs_the_kind_script() -> None:
    assert make_commands("kind") == ["bash scripts/kind-up"]
    assert (REPOSITORY / "scripts" / "kind-up").is_file()


def test_pre_commit_hooks_are_local_and_check_what_ci_lints() -> None:
    config = yaml.safe_load((REPOSITORY / ".pre-commit-config.yaml").read_text())
    assert [repository["repo"] for repository in config["repos"]] == ["local"]  # nothing fetched at hook time
    hooks = {hook["id"]: hook for hook in config["repos"][0]["hooks"]}
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy", "shellcheck"}
    assert hooks["ruff-check"]["entry"].startswith(".venv/bin/ruff check")
    assert hooks["ruff-format"]["entry"].startswith(".venv/bin/ruff format")
    assert hooks["mypy"]["entry"] == ".venv/bin/mypy" and hooks["mypy"]["pass_filenames"] is False
    for hook_id in ("ruff-check", "ruff-format"):
        pattern = re.compile(hooks[hook_id]["files"])
        for source in lint_python_sources():
            assert pattern.search(source if source.endswith("generate") else f"{source}/module.py"), (hook_id, source)
        assert not pattern.search("docs/conf.py")
