"""The images a real node runs, built on this machine and cached as OCI archives keyed by their inputs.

No registry is reachable here, so every image is made locally:

- ``pause``: Kubernetes' pause program (from the ``k8s.io/kubernetes`` module the control plane is built from),
  compiled with ``gcc -static``; containerd's sandbox image.
- ``busybox``: Debian's static busybox, for the node's own tests (starts in milliseconds).
- ``python-base``: Debian bookworm (debootstrap, minbase) with Python 3.11 and venv, this machine's CA
  certificates and a pip.conf naming them: the stand-in for the Dockerfile's ``PYTHON_IMAGE``.
- ``memories-optimizer``: the project's Dockerfile built by buildah on that base (its default target, the
  operator's image, which can run the agent too); ``memories-agent``: the same Dockerfile's ``agent`` target (only
  what the agent runs), plus a ``-next`` variant (one more label, so another image id) for in-place upgrade tests.

An archive's file name carries a digest of everything it is made from, so a changed input means a new build and
an unchanged one is found in ``~/.cache/memories/images`` (``MEMORIES_IMAGE_CACHE``). Build them all with
``scripts/node-images`` (``python -m memories.controlplane.node.image_build``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from memories.controlplane.binaries import kubernetes_version
from memories.errors import ControlPlaneError
from memories.resources import require_source_tree

#: Bumped when a recipe below changes in a way its inputs do not show.
RECIPE_VERSION = "1"
CACHE_ENVIRONMENT_VARIABLE = "MEMORIES_IMAGE_CACHE"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
#: This machine's extra CA certificates (an egress proxy's among them) go into the base image's trust store.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
BUSYBOX = Path("/bin/busybox")
PROJECT_IMAGE_REPOSITORY = "localhost/memories-optimizer"
AGENT_IMAGE_REPOSITORY = "localhost/memories-agent"
#: The Dockerfile's stage that holds only what the agent runs (``docker build --target agent``).
AGENT_TARGET = "agent"


def build_context() -> Path:
    """The repository clone whose Dockerfile builds the project images.

    Raises:
        InstallationError: memories is installed from a wheel (no Dockerfile, no sources).
    """
    return require_source_tree("building the project's node images")


def image_cache() -> Path:
    """Where archives are kept (``$MEMORIES_IMAGE_CACHE`` or ``~/.cache/memories/images``)."""
    return Path(os.environ.get(CACHE_ENVIRONMENT_VARIABLE) or Path.home() / ".cache" / "memories" / "images")


def go_module_cache() -> Path:
    """The Go module cache ``scripts/controlplane-binaries`` fills (``~/.cache/go-mod``)."""
    return Path.home() / ".cache" / "go-mod"


@dataclass(frozen=True)
class ImageRecipe:
    """One image: its file stem, its name (reference) in containerd, and the digest of its inputs."""

    stem: str
    name: str
    key: str

    @property
    def path(self) -> Path:
        """The archive of this exact recipe."""
        return image_cache() / f"{self.stem}-{self.key}.tar"

    def built(self) -> bool:
        """True when the archive of this recipe exists."""
        return self.path.is_file()


def _digest(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256(RECIPE_VERSION.encode())
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def pause_source() -> Path:
    """``build/pause/linux/pause.c`` of the Kubernetes release in use (in the Go module cache)."""
    return go_module_cache() / f"k8s.io/kubernetes@{kubernetes_version()}" / "build" / "pause" / "linux" / "pause.c"


def _compiler_version() -> bytes:
    return subprocess.run(["gcc", "--version"], capture_output=True, check=False, timeout=30).stdout


def pause_recipe() -> ImageRecipe:
    """The sandbox image (the source must be in the module cache: ``scripts/controlplane-binaries`` puts it there)."""
    source = pause_source()
    if not source.is_file():
        raise ControlPlaneError(f"{source} is missing: run scripts/controlplane-binaries (it downloads the module)")
    return ImageRecipe(
        "pause",
        f"localhost/memories/pause:{kubernetes_version()}",
        _digest([source.read_bytes(), _compiler_version()]),
    )


def busybox_recipe() -> ImageRecipe:
    """A busybox image (``/bin/busybox`` from Debian's busybox-static)."""
    if not BUSYBOX.is_file():
        raise ControlPlaneError(f"{BUSYBOX} is missing: apt-get install busybox-static (scripts/setup does it)")
    return ImageRecipe("busybox", "localhost/memories/busybox:1", _digest([BUSYBOX.read_bytes()]))


def _local_certificates() -> list[Path]:
    return sorted(LOCAL_CA_DIR.glob("**/*.crt")) if LOCAL_CA_DIR.is_dir() else []


def python_base_recipe() -> ImageRecipe:
    """The Debian/Python base image standing in for ``python:3.11-slim-bookworm``."""
    inputs = [DEBIAN_SUITE.encode(), DEBIAN_MIRROR.encode(), " ".join(BASE_PACKAGES).encode()]
    inputs += [path.read_bytes() for path in _local_certificates()]
    return ImageRecipe("python-base", f"localhost/memories/python:3.11-{DEBIAN_SUITE}", _digest(inputs))


def _dockerignore_patterns(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: a pattern matching a path or one of its parent directories excludes it."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    runs = ["/".join(parts[start:end]) for start in range(len(parts)) for end in range(start + 1, len(parts) + 1)]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(run, pattern[3:]) for run in runs):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def copied_sources(dockerfile: Path) -> list[str]:
    """The context paths the Dockerfile's ``COPY`` instructions read (those without ``--from``)."""
    sources: list[str] = []
    text = dockerfile.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0].upper() != "COPY" or any(word.startswith("--from") for word in words):
            continue
        sources += [word for word in words[1:-1] if not word.startswith("--")]
    return sources


def context_files(context: Path) -> list[Path]:
    """The files of the build context the Dockerfile copies, with ``.dockerignore`` applied (docker's rules)."""
    patterns = [*_dockerignore_patterns(context), "**/*.pyc", "**/*.egg-info"]
    files = []
    for source in copied_sources(context / "Dockerfile"):
        root = context / source
        if root.is_file():
            files.append(root)
            continue
        for directory, subdirectories, names in os.walk(root):
            relative_directory = os.path.relpath(directory, context)
            subdirectories[:] = sorted(
                name for name in subdirectories if not _ignored(os.path.join(relative_directory, name), patterns)
            )
            files += [
                context / relative_directory / name
                for name in sorted(names)
                if not _ignored(os.path.join(relative_directory, name), patterns)
            ]
    return files


def project_recipe(base: ImageRecipe, context: Path | None = None) -> ImageRecipe:
    """The project's image built from the Dockerfile of ``context`` (default :func:`build_context`) on ``base``.

    Its key covers the Dockerfile, ``.dockerignore``, the base image and every file the Dockerfile copies: an edit
    elsewhere (tests, docs, the chart) keeps the image.
    """
    context = context or build_context()
    inputs = [base.key.encode()]
    for path in [context / "Dockerfile", context / ".dockerignore", *context_files(context)]:
        if path.exists():
            inputs += [str(path.relative_to(context)).encode(), path.read_bytes()]
    key = _digest(inputs)
    return ImageRecipe("memories-optimizer", f"{PROJECT_IMAGE_REPOSITORY}:{key}", key)


def agent_recipe(project: ImageRecipe) -> ImageRecipe:
    """The agent's image: the Dockerfile's ``agent`` target, from the same inputs as ``project``."""
    return ImageRecipe("memories-agent", f"{AGENT_IMAGE_REPOSITORY}:{project.key}", project.key)


def next_recipe(image: ImageRecipe) -> ImageRecipe:
    """The same image with one more label: another image id for in-place upgrade tests."""
    return ImageRecipe(f"{image.stem}-next", f"{image.name}-next", image.key)


@dataclass(frozen=True)
class NodeImages:
    """The archives a node imports; the project's are None when not built (or not wanted).

    ``project`` is the operator's image (it can run the agent too), ``agent`` the agent's own smaller image and
    ``agent_next`` its twin with another image id (in-place upgrade tests).
    """

    pause: ImageRecipe
    busybox: ImageRecipe
    project: ImageRecipe | None = None
    agent: ImageRecipe | None = None
    agent_next: ImageRecipe | None = None

    def archives(self) -> list[Path]:
        """Every archive but the sandbox image's, in import order."""
        recipes = (self.busybox, self.project, self.agent, self.agent_next)
        return [recipe.path for recipe in recipes if recipe is not None]


def project_images(base: ImageRecipe) -> tuple[ImageRecipe, ImageRecipe, ImageRecipe]:
    """The operator's image, the agent's, and the agent's ``-next`` twin, built on ``base``."""
    project = project_recipe(base)
    agent = agent_recipe(project)
    return project, agent, next_recipe(agent)


def locate_images(*, project: bool = True) -> NodeImages:
    """The built archives for the current sources.

    Raises:
        ControlPlaneError: one is not built (the message says how to build it).
        InstallationError: ``project`` is asked for but memories is installed from a wheel (no Dockerfile).
    """
    pause, busybox = pause_recipe(), busybox_recipe()
    wanted = [pause, busybox]
    built: tuple[ImageRecipe, ...] = ()
    if project:
        built = project_images(python_base_recipe())
        wanted += built
    missing = [recipe.stem for recipe in wanted if not recipe.built()]
    if missing:
        raise ControlPlaneError(
            f"node images not built for the current sources: {', '.join(missing)}; build them with "
            f"scripts/node-images (the project image changes with every source change; a rebuild reuses cached layers)"
        )
    return NodeImages(pause, busybox, *built)
