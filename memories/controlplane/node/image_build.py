"""Build the node's images (``scripts/node-images``): each step is skipped when its archive is cached.

``python -m memories.controlplane.node.image_build [--no-project]`` prints one progress line per step and a
heartbeat during long ones, then the archives. Builds run at ``nice -n 10`` and take turns on a lock in the cache
(several worktrees share ``~/.cache``). Cold, on 2 shared cores: pause and busybox seconds, the Debian/Python base
(debootstrap) 2-4 minutes, the project image 5-10 minutes; a changed source tree rebuilds only the project
image's last layers (buildah keeps its layer cache in ``~/.cache/memories/buildah``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from memories.controlplane.binaries import kubernetes_version
from memories.controlplane.node import images
from memories.controlplane.node.build_steps import run_long, say
from memories.controlplane.node.images import ImageRecipe, image_cache
from memories.controlplane.node.mounts import remove_tree
from memories.controlplane.node.oci import write_image_archive
from memories.errors import ControlPlaneError

#: Archives kept per image (the newest ones); older project images are deleted after a build.
KEEP_PER_IMAGE = 2
#: Past this size buildah's storage is pruned of unnamed images (its layer cache) after a build: the next build
#: after a change of requirements.lock is then a cold one, but the cache does not grow without bound.
BUILDAH_STORAGE_LIMIT_BYTES = 8 * 2**30
#: What the slim official images leave out, applied to the base and to later apt-get installs on it.
SLIM_DPKG_CONFIG = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    image_cache().mkdir(parents=True, exist_ok=True)
    with (image_cache() / ".build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another build holds the image cache lock: waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _workdir(stem: str) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix=f".build-{stem}-", dir=image_cache()))
    try:
        yield directory
    finally:
        remove_tree(directory)  # debootstrap mounts /proc and /sys inside its target


def _prune(recipe: ImageRecipe) -> None:
    """Delete all but the newest archives of this image (and unfinished ones)."""
    cache = image_cache()
    for partial in cache.glob(f"{recipe.stem}-*.tar.partial"):
        partial.unlink(missing_ok=True)
    archives = sorted(
        (path for path in cache.glob(f"{recipe.stem}-*.tar") if path.stem.count("-") == recipe.stem.count("-") + 1),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for old in archives[KEEP_PER_IMAGE:]:
        if old != recipe.path:
            old.unlink(missing_ok=True)


def _single_file_layer(layer: Path, source: Path, name: str, links: dict[str, str] | None = None) -> None:
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as archive:
        directory = str(Path(name).parent)
        if directory != ".":
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        info = archive.gettarinfo(str(source), arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755
        with source.open("rb") as data:
            archive.addfile(info, data)
        for link, target in (links or {}).items():
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)


def build_pause(recipe: ImageRecipe) -> None:
    """Compile pause.c statically and pack it as the sandbox image (runs as 65535, like the official one)."""
    with _workdir(recipe.stem) as work:
        binary = work / "pause"
        version = f"-DVERSION={kubernetes_version()}-memories"
        run_long("pause: gcc -static", ["gcc", "-Os", "-Wall", "-Werror", "-static", version, "-o", str(binary),
                                        str(images.pause_source())], work / "gcc.log", nice=False)  # fmt: skip
        subprocess.run(["strip", str(binary)], check=True, timeout=60)
        layer = work / "layer.tar"
        _single_file_layer(layer, binary, "pause")
        write_image_archive(
            recipe.path, name=recipe.name, layers=[layer], config={"Entrypoint": ["/pause"], "User": "65535:65535"}
        )


def build_busybox(recipe: ImageRecipe) -> None:
    """Debian's static busybox with a link per applet in /bin."""
    listing = subprocess.run([str(images.BUSYBOX), "--list"], capture_output=True, text=True, check=True, timeout=30)
    links = {f"bin/{applet}": "busybox" for applet in listing.stdout.split() if applet != "busybox"}
    with _workdir(recipe.stem) as work:
        layer = work / "layer.tar"
        _single_file_layer(layer, images.BUSYBOX, "bin/busybox", links)
        write_image_archive(recipe.path, name=recipe.name, layers=[layer], config={"Cmd": ["sh"], "Env": ["PATH=/bin"]})


def _slim_rootfs(rootfs: Path) -> None:
    (rootfs / "etc/dpkg/dpkg.cfg.d/01-slim").write_text(SLIM_DPKG_CONFIG)
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*", "var/log/*",
                    "usr/share/man/*", "usr/share/info/*", "tmp/*"):  # fmt: skip
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for path in (rootfs / "usr/share/locale").glob("*"):
        if path.name != "locale.alias":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in (rootfs / "usr/share/doc").glob("*/*"):
        if path.name != "copyright":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def _trust_local_certificates(rootfs: Path) -> None:
    """This machine's CA certificates into the image's store, and pip told to use that store (as pip is here)."""
    target = rootfs / "usr/local/share/ca-certificates"
    target.mkdir(parents=True, exist_ok=True)
    for certificate in images._local_certificates():
        shutil.copy2(certificate, target / certificate.name)
    subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True, timeout=120)
    (rootfs / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")


def build_python_base(recipe: ImageRecipe) -> None:
    """debootstrap a minimal bookworm with Python, slim it, and pack it as one layer."""
    with _workdir(recipe.stem) as work:
        rootfs = work / "rootfs"
        command = ["debootstrap", "--variant=minbase", f"--include={','.join(images.BASE_PACKAGES)}",
                   images.DEBIAN_SUITE, str(rootfs), images.DEBIAN_MIRROR]  # fmt: skip
        run_long("python-base: debootstrap", command, work / "debootstrap.log")
        _trust_local_certificates(rootfs)
        _slim_rootfs(rootfs)
        layer = work / "layer.tar"
        run_long("python-base: layer", ["tar", "--numeric-owner", "--sort=name", "--exclude=./dev/*",
                                        "--exclude=./proc/*", "--exclude=./sys/*", "-C", str(rootfs), "-cf",
                                        str(layer), "."], work / "tar.log")  # fmt: skip
        write_image_archive(
            recipe.path,
            name=recipe.name,
            layers=[layer],
            config={
                "Cmd": ["python3"],
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
            },
            history=[f"debootstrap --variant=minbase {images.DEBIAN_SUITE} + {' '.join(images.BASE_PACKAGES)}"],
        )


def buildah_command(*args: str) -> list[str]:
    """buildah with its storage in the cache (its layer cache survives between builds and CI runs)."""
    binary = shutil.which("buildah")
    if binary is None:
        raise ControlPlaneError("buildah is not installed (apt-get install buildah; scripts/setup does it)")
    storage = image_cache().parent / "buildah"
    return [binary, "--root", str(storage / "root"), "--runroot", str(storage / "run"), "--storage-driver",
            "overlay", *args]  # fmt: skip


def build_project(project: ImageRecipe, agent: ImageRecipe, agent_next: ImageRecipe, base: ImageRecipe) -> None:
    """``buildah bud`` of the repository's Dockerfile with ``PYTHON_IMAGE`` = the local base: its default target
    (the operator's image) and its ``agent`` target (the stages they share are built once); then the agent's -next
    twin."""
    context = images.build_context()
    with _workdir(project.stem) as work:
        run_long("project: load the base image", buildah_command("pull", "--quiet", f"oci-archive:{base.path}"),
                 work / "pull.log", nice=False)  # fmt: skip
        run_long("project: tag the base image", buildah_command("tag", _pulled_name(work / "pull.log"), base.name),
                 work / "tag.log", nice=False)  # fmt: skip
        for recipe, target in ((agent, [f"--target={images.AGENT_TARGET}"]), (project, [])):
            build = buildah_command(
                "bud", "--layers", "--pull=never", "--isolation=chroot", "--format=oci", *target,
                f"--build-arg=PYTHON_IMAGE={base.name}", "--tag", recipe.name, "--file",
                str(context / "Dockerfile"), str(context),
            )  # fmt: skip
            run_long(f"{recipe.stem}: buildah bud Dockerfile", build, work / f"bud-{recipe.stem}.log")
            _push(recipe, work)
        container = subprocess.run(buildah_command("from", "--pull=never", agent.name), capture_output=True,
                                   text=True, check=True, timeout=300).stdout.strip()  # fmt: skip
        try:
            subprocess.run(buildah_command("config", "--label", "dev.memories.image-variant=next", container),
                           check=True, capture_output=True, timeout=120)  # fmt: skip
            run_long("project: commit the -next variant", buildah_command("commit", "--quiet", container,
                                                                           agent_next.name), work / "commit.log")  # fmt: skip
        finally:
            subprocess.run(buildah_command("rm", container), capture_output=True, timeout=120, check=False)
        _push(agent_next, work)


def _prune_buildah_storage() -> None:
    storage = image_cache().parent / "buildah"
    used = sum(path.stat().st_size for path in storage.rglob("*") if path.is_file() and not path.is_symlink())
    if used > BUILDAH_STORAGE_LIMIT_BYTES:
        say(f"buildah storage is {used / 2**30:.1f} GiB: pruning its layer cache")
        subprocess.run(buildah_command("rmi", "--prune"), capture_output=True, timeout=600, check=False)


def _pulled_name(log: Path) -> str:
    """The image id ``buildah pull --quiet`` printed (its last line)."""
    lines = log.read_text().split()
    if not lines:
        raise ControlPlaneError(f"buildah pull printed no image id; log {log}")
    return lines[-1]


def _push(recipe: ImageRecipe, work: Path) -> None:
    partial = recipe.path.with_name(recipe.path.name + ".partial")
    partial.unlink(missing_ok=True)
    run_long(f"{recipe.stem}: write the OCI archive", buildah_command("push", "--quiet", recipe.name,
             f"oci-archive:{partial}:{recipe.name}"), work / f"push-{recipe.stem}.log")  # fmt: skip
    partial.replace(recipe.path)


def ensure_images(*, project: bool = True) -> images.NodeImages:
    """Build whatever is not cached yet (in dependency order); returns the archives."""
    with _build_lock():
        pause, busybox = images.pause_recipe(), images.busybox_recipe()
        _ensure(pause, lambda: build_pause(pause))
        _ensure(busybox, lambda: build_busybox(busybox))
        if not project:
            return images.NodeImages(pause, busybox)
        base = images.python_base_recipe()
        _ensure(base, lambda: build_python_base(base))
        built = images.project_images(base)
        project_image = built[0]
        if not all(recipe.built() for recipe in built):
            say(f"{project_image.name}: building (inputs changed or never built)")
            build_project(*built, base)
        else:
            say(f"{project_image.name}: cached")
        for recipe in built:
            _prune(recipe)
        _prune_buildah_storage()
        return images.NodeImages(pause, busybox, *built)


def _ensure(recipe: ImageRecipe, build: Callable[[], None]) -> None:
    if recipe.built():
        say(f"{recipe.name}: cached ({recipe.path.name})")
        return
    say(f"{recipe.name}: building")
    build()
    _prune(recipe)
    say(f"{recipe.name}: {recipe.path.stat().st_size / 2**20:.0f} MiB archive {recipe.path}")


def main(argv: list[str] | None = None) -> int:
    """The command line of ``scripts/node-images``."""
    parser = argparse.ArgumentParser(prog="node-images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-project", action="store_true", help="only pause and busybox (fast)")
    arguments = parser.parse_args(argv)
    try:
        built = ensure_images(project=not arguments.no_project)
    except ControlPlaneError as error:
        print(f"node-images: error: {error}", file=sys.stderr)
        return 1
    for recipe in (built.pause, built.busybox, built.project, built.agent, built.agent_next):
        if recipe is not None:
            print(f"{recipe.name}\t{recipe.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
