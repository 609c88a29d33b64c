"""memories.resources: the package's data is the repository's (one copy, linked), and a missing file is named."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from memories import resources
from memories.errors import InstallationError

REPOSITORY = Path(__file__).resolve().parents[2]
#: ``kubectl apply -f crds`` reads a link to a directory as a file ("read crds: is a directory"); ``crds/`` works.
WITHOUT_SLASH = re.compile(r"-f\s+crds(/examples)?(?![\w./-])")


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


def test_instructions_name_the_linked_directories_with_a_trailing_slash() -> None:
    texts = [REPOSITORY / "README.md", REPOSITORY / "Makefile", *sorted((REPOSITORY / "docs").glob("*.md"))]
    texts += [path for path in sorted((REPOSITORY / "scripts").iterdir()) if path.is_file()]
    texts += sorted((REPOSITORY / "helm").rglob("*.md")) + sorted(resources.examples_directory().glob("*.yaml"))
    offenders = [
        f"{path.relative_to(REPOSITORY)}: {match.group()}"
        for path in texts
        for match in WITHOUT_SLASH.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "write crds/ and crds/examples/ (they are links to directories)"
    assert WITHOUT_SLASH.search("kubectl apply -f crds") and not WITHOUT_SLASH.search("kubectl apply -f crds/")
