"""memories.resources: the package's data is the repository's (one copy, linked), and a missing file is named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from memories import resources
from memories.errors import InstallationError

REPOSITORY = Path(__file__).resolve().parents[2]


def test_a_clone_is_its_own_source_tree() -> None:
    assert resources.source_tree() == REPOSITORY
    assert resources.require_source_tree("building images") == REPOSITORY


@pytest.mark.parametrize(
    ("link", "resource"),
    [
        ("crds", resources.crds_directory),
        ("crds/examples", resources.examples_directory),
        ("deploy/rbac.yaml", lambda: resources.deploy_file("rbac.yaml")),
        ("deploy/peering.yaml", lambda: resources.deploy_file("peering.yaml")),
        ("scripts/controlplane-binaries", resources.controlplane_build_script),
    ],
)
def test_the_repository_paths_are_links_to_the_package_data(link: str, resource: Callable[[], Path]) -> None:
    top = REPOSITORY / link.split("/")[0] if link.startswith("crds") else REPOSITORY / link
    assert top.is_symlink(), f"{top} should link into memories/resources/ (one copy)"
    assert (REPOSITORY / link).resolve() == resource().resolve()


def test_a_missing_resource_names_the_file() -> None:
    with pytest.raises(InstallationError, match=r"memories/resources/deploy/missing\.yaml is missing"):
        resources.deploy_file("missing.yaml")
