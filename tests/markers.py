"""Which markers a test carries because of the fixtures it uses (applied by ``tests/conftest.py`` at collection).

Marking by fixture is what keeps the markers true: a new test that asks for the control plane, directly or
through another fixture, is marked ``controlplane`` without anyone remembering to. The markers themselves are
declared, with their meaning, in pyproject.toml's ``[tool.pytest.ini_options]``.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Fixture → the markers of every test that uses it (directly or through other fixtures).
FIXTURE_MARKERS: dict[str, frozenset[str]] = {
    "control_plane": frozenset({"controlplane"}),  # tests/operator/conftest.py: etcd + kube-apiserver
    "helm_executable": frozenset({"controlplane"}),  # tests/helm/conftest.py: helm, built by controlplane-binaries
    "node_binaries": frozenset({"controlplane", "realnode"}),  # tests/e2e/conftest.py: the kubelet, root, images
}
#: Marker → the markers it implies (a real node runs under a control plane).
IMPLIED_MARKERS: dict[str, frozenset[str]] = {"realnode": frozenset({"controlplane"})}


def implied_markers(fixture_names: Iterable[str], own_markers: Iterable[str]) -> set[str]:
    """The markers a test must carry, given the fixtures it uses and the markers it was given by hand."""
    markers = set(own_markers)
    for name in fixture_names:
        markers |= FIXTURE_MARKERS.get(name, frozenset())
    for marker in list(markers):
        markers |= IMPLIED_MARKERS.get(marker, frozenset())
    return markers
