"""The package installed from its wheel, away from the repository: the files it carries, its console script, and
an agent that runs with the base dependencies only (none of the extras' packages installed).

The wheel is built with ``pip wheel --no-deps`` and installed into a fresh virtualenv. Its base dependencies are
linked into that virtualenv from this environment (the same versions, no download), so the virtualenv holds what
``pip install memories-optimization`` would, and nothing from an extra. A second one has the ``local`` extra's
too and runs ``memories dev --once`` from outside the repository: the CRDs, examples and peering object it applies
come from the installed package.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker

from tests.agent_imports import check_agent_report, run_agent_script, write_models

REPOSITORY = Path(__file__).resolve().parents[2]
#: The extras' packages (by import name): the base install must not have them.
EXTRA_MODULES = ("kopf", "kubernetes", "onnx", "cryptography", "pytest")
#: The package's data, as the repository's top-level paths name them (symbolic links into memories/resources/).
REPOSITORY_DATA = ("crds", "deploy/rbac.yaml", "deploy/peering.yaml", "scripts/controlplane-binaries")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SELF = re.compile(r"memories-optimization\[([^\]]+)\]")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(directory), str(REPOSITORY)],
        check=True,
        timeout=600,
    )
    [built] = directory.glob("memories_optimization-*.whl")
    return built


def _requirements(wheel: Path, extras: frozenset[str]) -> list[str]:
    """The wheel's requirements for an install with ``extras`` (the package's own extras followed), without markers."""
    with zipfile.ZipFile(wheel) as archive:
        [name] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        lines = archive.read(name).decode().splitlines()
    declared = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]
    wanted, chosen = set(extras), []
    for _ in range(len(declared)):  # an extra naming the package's other extras widens ``wanted``: a fixpoint
        chosen = [line for line in declared if _applies(line, wanted)]
        for line in chosen:
            if (match := _SELF.match(line)) is not None:
                wanted |= {extra.strip() for extra in match.group(1).split(",")}
    return [line.split(";", 1)[0] for line in chosen if not _SELF.match(line)]


def _applies(requirement: str, extras: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether a requirement's environment marker holds here, for an install with ``extras``."""
    _, _, marker = requirement.partition(";")
    if not marker.strip():
        return True
    return any(Marker(marker).evaluate({"extra": extra}) for extra in [*extras, ""])


def _distributions(requirements: list[str]) -> Iterator[metadata.Distribution]:
    """This environment's distributions that satisfy ``requirements`` and, recursively, their own."""
    seen: set[str] = set()
    pending = list(requirements)
    while pending:
        match = _NAME.match(pending.pop())
        assert match is not None
        key = re.sub(r"[-_.]+", "-", match.group()).lower()
        if key in seen:
            continue
        seen.add(key)
        distribution = metadata.distribution(key)
        yield distribution
        pending += [requirement for requirement in distribution.requires or [] if _applies(requirement)]


def _install(wheel: Path, root: Path, extras: frozenset[str]) -> Path:
    """A fresh virtualenv at ``root`` with the wheel installed and the dependencies of ``extras`` linked in."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    dependencies = root / "dependencies"
    dependencies.mkdir()
    for distribution in _distributions(_requirements(wheel, extras)):
        tops = {Path(str(file)).parts[0] for file in distribution.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            link = dependencies / top
            if not link.exists():
                link.symlink_to(Path(str(distribution.locate_file(top))))
    (root / "lib" / version / "site-packages" / "dependencies.pth").write_text(f"{dependencies}\n")
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=300)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel with its base dependencies: what ``pip install memories-optimization`` gives."""
    return _install(wheel, tmp_path_factory.mktemp("venv"), frozenset())


def _run(venv: Path, cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """``command`` with the virtualenv's bin first on PATH, from ``cwd``, with no PYTHONPATH."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    environment["PATH"] = f"{venv / 'bin'}{os.pathsep}{environment.get('PATH', '')}"
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300, check=False)


def test_the_wheel_carries_the_compiled_extensions(wheel: Path) -> None:
    """``pip wheel`` compiles the RESP fast path, the LRU order and the L1 entries into the wheel, with their stubs."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    modules = (
        "memories/sidecar/resp/_fast",
        "memories/optimization/cache/policies/_lru",
        "memories/optimization/cache/_entry",
    )
    for module in modules:
        assert any(re.fullmatch(rf"{module}\..*\.so", name) for name in names), (module, names)
        assert f"{module}.pyi" in names


def test_the_installed_package_is_the_wheel_and_lacks_the_extras(venv: Path, tmp_path: Path) -> None:
    script = "import importlib.util, memories; print(memories.__file__); "
    script += f"print([name for name in {EXTRA_MODULES!r} if importlib.util.find_spec(name)])"
    result = _run(venv, tmp_path, "python", "-c", script)
    assert result.returncode == 0, result.stderr
    location, extras = result.stdout.splitlines()
    assert Path(location).is_relative_to(venv) and not Path(location).is_relative_to(REPOSITORY)
    assert extras == "[]"


def _digests(root: Path) -> dict[str, str]:
    files = [root] if root.is_file() else sorted(path for path in root.rglob("*") if path.is_file())
    return {str(path.relative_to(root.parent)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def test_the_installed_data_is_the_repository_s(venv: Path, tmp_path: Path) -> None:
    script = """
import hashlib, json
from memories import resources
paths = [resources.crds_directory(), resources.deploy_file("rbac.yaml"), resources.deploy_file("peering.yaml"),
         resources.controlplane_build_script()]
out = {}
for root in paths:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    out.update({str(p.relative_to(root.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
print(json.dumps([out, resources.source_tree() is None]))
"""
    result = _run(venv, tmp_path, "python", "-c", script)
    assert result.returncode == 0, result.stderr
    installed, no_source_tree = json.loads(result.stdout)
    expected: dict[str, str] = {}
    for name in REPOSITORY_DATA:
        expected.update(_digests((REPOSITORY / name).resolve()))
    assert installed == expected
    assert any(name.startswith("crds/examples/") for name in installed)
    assert no_source_tree  # an installed package does not take itself for a clone


def test_memories_help_runs(venv: Path, tmp_path: Path) -> None:
    result = _run(venv, tmp_path, "memories", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("sidecar", "operator", "dev", "agent-check"):
        assert command in result.stdout


@pytest.mark.parametrize(("command", "extra"), [("operator", "operator"), ("dev", "local")])
def test_a_command_without_its_extra_names_the_extra(venv: Path, tmp_path: Path, command: str, extra: str) -> None:
    result = _run(venv, tmp_path, "memories", command)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"memories {command}: error: memories {command} needs the '{extra}' extra" in result.stderr
    assert f"pip install 'memories-optimization[{extra}]'" in result.stderr


def test_the_agent_runs_from_the_wheel_with_the_base_dependencies_only(venv: Path, tmp_path: Path) -> None:
    models = write_models(tmp_path)  # trained here: the installed package has no training extra
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    report = run_agent_script(str(venv / "bin" / "python"), models, cwd=tmp_path, env=environment)
    check_agent_report(report)
    assert Path(report["memories"]).is_relative_to(venv)


@pytest.mark.controlplane
def test_memories_dev_runs_from_the_wheel_with_the_local_extra(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    if os.environ.get("MEMORIES_SKIP_CONTROLPLANE") == "1":
        pytest.skip("MEMORIES_SKIP_CONTROLPLANE=1")
    local = _install(wheel, tmp_path_factory.mktemp("venv-local"), frozenset({"local"}))
    result = _run(local, tmp_path, "memories", "--log-level", "WARNING", "dev", "--once", "--interval", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split()[1]: line.split() for line in result.stdout.splitlines() if line.startswith("memories-")}
    assert rows["tiles"][:4] == ["memories-demo", "tiles", "True", "Reconciled"], result.stdout
    assert "==> installing the CRDs" in result.stderr
    if os.geteuid() == 0:  # a real node would be possible, but its images need a clone: kwok, saying so
        assert "building the project's node images needs a clone of the repository" in result.stderr
