"""The chart's copies of the repository's single-source manifests (CRDs, RBAC rules, peering) never drift."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helm.chart import CHART, REPOSITORY, Helm, documents, only

SOURCE_CRDS = sorted((REPOSITORY / "crds").glob("*.yaml"))
COPIES = [
    *((source, CHART / "crds" / source.name) for source in SOURCE_CRDS),
    (REPOSITORY / "deploy" / "rbac.yaml", CHART / "files" / "rbac.yaml"),
    (REPOSITORY / "deploy" / "peering.yaml", CHART / "files" / "peering.yaml"),
]


def _fix(source: Path, copy: Path) -> str:
    return f"{copy.relative_to(REPOSITORY)} differs from {source.relative_to(REPOSITORY)}: cp {source} {copy}"


@pytest.mark.parametrize(("source", "copy"), COPIES, ids=[str(copy.relative_to(CHART)) for _, copy in COPIES])
def test_chart_copy_is_byte_identical_to_its_source(source: Path, copy: Path) -> None:
    assert copy.is_file(), _fix(source, copy)
    assert copy.read_bytes() == source.read_bytes(), _fix(source, copy)


def test_chart_holds_no_crd_the_repository_lacks() -> None:
    assert sorted(path.name for path in (CHART / "crds").glob("*")) == [path.name for path in SOURCE_CRDS]


def test_repository_crds_include_the_peering_crd() -> None:
    kinds = {yaml.safe_load(path.read_text())["spec"]["names"]["kind"] for path in SOURCE_CRDS}
    assert "ClusterKopfPeering" in kinds


def test_rendered_cluster_role_rules_equal_deploy_rbac(helm: Helm) -> None:
    source = yaml.safe_load((REPOSITORY / "deploy" / "rbac.yaml").read_text())
    rendered = only(documents(helm.template()), "ClusterRole")
    assert rendered["rules"] == source["rules"]


def test_rendered_peering_object_is_the_one_the_operator_joins(helm: Helm) -> None:
    source = yaml.safe_load((REPOSITORY / "deploy" / "peering.yaml").read_text())
    rendered = only(documents(helm.template()), "ClusterKopfPeering")
    assert (rendered["apiVersion"], rendered["metadata"]["name"]) == (source["apiVersion"], source["metadata"]["name"])
