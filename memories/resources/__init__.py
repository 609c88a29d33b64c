"""The files the package carries and reads at run time, found with :mod:`importlib.resources`.

They live here, inside the package, so an installed wheel has them: the CRDs and their examples (``crds/``), the
operator's RBAC rules and peering object (``deploy/``) and the script that builds the control-plane binaries
(``scripts/controlplane-binaries``). The repository's top-level ``crds``, ``deploy/rbac.yaml``,
``deploy/peering.yaml`` and ``scripts/controlplane-binaries`` are symbolic links to them, so kubectl, helm and
``make kind`` keep their paths and there is one copy of each file.

What only a clone of the repository has (the Dockerfile the node images are built from) is found with
:func:`source_tree`, which says when there is none.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from memories.errors import InstallationError


def resource_path(*parts: str) -> Path:
    """The file or directory ``parts`` below this package, as a path on disk.

    Raises:
        InstallationError: it does not exist, or the package is not installed as plain files (e.g. a zip).
    """
    target = files(__name__).joinpath(*parts)
    if not isinstance(target, Path):
        raise InstallationError(f"memories is not installed as files on disk; {'/'.join(parts)} cannot be used")
    if not target.exists():
        raise InstallationError(f"{target} is missing from the installed package: reinstall memories-optimization")
    return target


def crds_directory() -> Path:
    """The CustomResourceDefinitions (one ``*.yaml`` per resource; ``examples/`` below)."""
    return resource_path("crds")


def examples_directory() -> Path:
    """The example resources (policies, profiles, pools and a demo namespace)."""
    return resource_path("crds", "examples")


def deploy_file(name: str) -> Path:
    """One of the operator's cluster objects: ``rbac.yaml`` (its ClusterRole) or ``peering.yaml``."""
    return resource_path("deploy", name)


def controlplane_build_script() -> Path:
    """The bash script that builds and caches etcd, kube-apiserver, kubectl, helm, kwok and the kubelet."""
    return resource_path("scripts", "controlplane-binaries")


def source_tree() -> Path | None:
    """The clone of the repository this package is imported from (editable install), or None for an installed one.

    A clone is recognised by its Dockerfile and pyproject.toml beside the package directory.
    """
    root = Path(__file__).resolve().parent.parent.parent
    return root if (root / "Dockerfile").is_file() and (root / "pyproject.toml").is_file() else None


def require_source_tree(purpose: str) -> Path:
    """:func:`source_tree`, or an error saying that ``purpose`` needs a clone of the repository.

    Raises:
        InstallationError: the package is installed (from a wheel), not run from a clone.
    """
    root = source_tree()
    if root is None:
        raise InstallationError(
            f"{purpose} needs a clone of the repository (its Dockerfile and sources); "
            "this memories is installed from a wheel"
        )
    return root
