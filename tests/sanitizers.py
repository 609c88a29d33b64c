"""Running a C extension's tests under AddressSanitizer and UndefinedBehaviorSanitizer.

:func:`run_tests_sanitized` compiles one extension of pyproject.toml (same sources, include
directories and libraries) with ``-fsanitize=address,undefined``, then runs pytest on the given
test files in a fresh interpreter with libasan preloaded and the sanitized module installed in
``sys.modules`` under its real name, so the package code under test calls it. Any report
(heap overflow, use after free, signed overflow, misaligned access...) aborts the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SANITIZER_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer"]
# CPython and numpy keep objects alive until exit on purpose: leak reports would be noise.
ASAN_OPTIONS = "detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"

_PRELOAD = """
import importlib.util, sys
name, path = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location(name, path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules[name] = module
import pytest
# --capture=sys leaves file descriptor 2 alone: a sanitizer's report goes there, and an abort would lose it
# with pytest's default (fd) capture.
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "--capture=sys", *sys.argv[3:]]))
"""


def extension_settings(module_name: str) -> dict[str, list[str]]:
    """The ``[[tool.setuptools.ext-modules]]`` entry of pyproject.toml named ``module_name``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for entry in project["tool"]["setuptools"]["ext-modules"]:
        if entry["name"] == module_name:
            return dict(entry)
    raise AssertionError(f"pyproject.toml builds no extension {module_name}")


def build_sanitized(module_name: str, directory: Path) -> Path:
    """Compile ``module_name`` with the sanitizers into ``directory``; return the shared object's path."""
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.fail("gcc is not installed; scripts/setup installs it")
    settings = extension_settings(module_name)
    suffix: str = sysconfig.get_config_var("EXT_SUFFIX")
    output = directory / (module_name.rsplit(".", 1)[1] + suffix)
    command = [compiler, "-shared", "-fPIC", "-g", "-O1", *SANITIZER_FLAGS, f"-I{sysconfig.get_paths()['include']}"]
    command += [f"-I{include}" for include in settings.get("include-dirs", [])]
    command += [str(ROOT / source) for source in settings["sources"]]
    command += [f"-l{library}" for library in settings.get("libraries", [])]
    subprocess.run([*command, "-o", str(output)], check=True, capture_output=True, text=True)
    return output


def run_tests_sanitized(module_name: str, test_paths: list[str], directory: Path, *pytest_arguments: str) -> None:
    """Run ``test_paths`` (relative to the repository) against a sanitized build of ``module_name``.

    Fails with the sanitizer's report when the run aborts or a test fails.
    """
    shared_object = build_sanitized(module_name, directory)
    runtime = subprocess.run(["gcc", "-print-file-name=libasan.so"], check=True, capture_output=True, text=True)
    environment = dict(os.environ, LD_PRELOAD=runtime.stdout.strip(), ASAN_OPTIONS=ASAN_OPTIONS)
    environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    environment.pop("MEMORIES_PURE_PYTHON", None)
    command = [sys.executable, "-c", _PRELOAD, module_name, str(shared_object), *test_paths, *pytest_arguments]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"sanitized run failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-12000:]}")
