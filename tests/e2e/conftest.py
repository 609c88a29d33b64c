"""A control plane with a real node (containerd + kubelet, pods on a CNI bridge) for the tests marked ``realnode``.

Started once per session. On a machine that cannot run a node (not root, packages or images missing) the tests
fail with the reason and how to fix it; ``MEMORIES_SKIP_REALNODE=1`` skips them on purpose instead (never in CI).
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from memories.controlplane import LocalControlPlane, locate_binaries
from memories.controlplane.binaries import ControlPlaneBinaries
from memories.controlplane.node import RealNode
from memories.controlplane.node.host_settings import RECORD_NAME, read_sysctls
from memories.controlplane.node.images import NodeImages, locate_images
from memories.controlplane.node.instance import node_root
from memories.controlplane.node.support import node_support_problems
from memories.controlplane.node.teardown import CONTAINERD, KUBELET
from memories.controlplane.processes import log_tail
from memories.errors import ControlPlaneError
from tests.helm.chart import CHART, Helm, helm_binary

SKIP_VARIABLE = "MEMORIES_SKIP_REALNODE"


def _unavailable(reason: str) -> None:
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: real-node tests skipped on request ({reason})")
    pytest.fail(f"the real node cannot run here: {reason} (or set {SKIP_VARIABLE}=1 to skip)", pytrace=False)


@pytest.fixture(scope="session")
def node_binaries() -> ControlPlaneBinaries:
    """The control-plane binaries, the kubelet among them; fails (or skips on request) when this machine cannot run a node."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: real-node tests skipped on request")
    try:
        binaries = locate_binaries()
    except ControlPlaneError as error:
        _unavailable(str(error))
        raise
    problems = node_support_problems(binaries)
    if problems:
        _unavailable("; ".join(problems))
    return binaries


@pytest.fixture(scope="session")
def node_images(node_binaries: ControlPlaneBinaries) -> NodeImages:
    """The image archives for the current sources (``scripts/node-images`` builds them; scripts/setup runs it)."""
    try:
        return locate_images()
    except ControlPlaneError as error:
        _unavailable(str(error))
        raise


#: The real clusters up now (the session's): what a failing test's report describes.
_running_clusters: list[LocalControlPlane] = []
#: Lines of each event listing and log kept in a failing test's report.
_REPORT_LINES = 80


def _node_state(cluster: LocalControlPlane) -> list[tuple[str, str]]:
    """What a failing real-node test's report shows of the node: the pods with their restarts and last
    terminations, the latest events (probe failures, kills, back-offs), and the kubelet's and containerd's logs."""
    restarts = (
        "{range .items[*]}{.metadata.namespace}/{.metadata.name}{range .status.containerStatuses[*]}"
        " {.name}:restarts={.restartCount},ready={.ready},last={.lastState.terminated.reason}"
        "/{.lastState.terminated.exitCode}{end}{'\\n'}{end}"
    )
    sections = [
        ("pods", cluster.kubectl("get", "pods", "-A", "-o", "wide").stdout),
        ("containers", cluster.kubectl("get", "pods", "-A", "-o", f"jsonpath={restarts}").stdout),
        ("events", _last_lines(cluster.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp").stdout)),
    ]
    if cluster.node is not None:
        directory = cluster.node.instance.directory
        sections += [(name, log_tail(directory / f"{name}.log", _REPORT_LINES)) for name in (KUBELET, CONTAINERD)]
    return sections


def _last_lines(text: str) -> str:
    return "\n".join(text.splitlines()[-_REPORT_LINES:])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A real-node test that failed gets the node's state in its report (:func:`_node_state`): the flaky failures
    seen under load cannot be told apart once the cluster and its logs are gone."""
    report = yield
    if report.failed and call.when == "call" and _running_clusters:
        for cluster in _running_clusters:
            try:
                sections = _node_state(cluster)
            except Exception as error:  # a report must not fail because the node is in a bad state
                sections = [("node state", f"could not be read: {error!r}")]
            for name, text in sections:
                report.sections.append((f"real node: {name}", text))
    return report


def start_real_cluster(binaries: ControlPlaneBinaries, images: NodeImages, workdir: Path) -> LocalControlPlane:
    """A started control plane with its own real node (the caller stops it)."""
    node = RealNode.with_images(binaries.kubelet or Path(), images)
    return LocalControlPlane(binaries, workdir=workdir, node=node).start()


@pytest.fixture(scope="session")
def real_cluster(
    node_binaries: ControlPlaneBinaries, node_images: NodeImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalControlPlane]:
    """etcd, kube-apiserver, controllers, scheduler and a real node with every image imported.

    After it stops, the machine's settings must be what they were before, unless another node (another run on
    this machine) still holds them.
    """
    before = read_sysctls()
    began = time.monotonic()
    cluster = start_real_cluster(node_binaries, node_images, tmp_path_factory.mktemp("real-cluster"))
    print(f"real cluster up in {time.monotonic() - began:.1f} s", flush=True)
    _running_clusters.append(cluster)
    try:
        yield cluster
    finally:
        _running_clusters.remove(cluster)
        cluster.stop()
    if not (node_root() / RECORD_NAME).exists():
        assert read_sysctls() == before, "the node did not restore the machine's kernel settings"


OPERATOR_NAMESPACE = "memories-system"
RELEASE = "memories-optimizer"


@pytest.fixture(scope="session")
def operator_release(
    real_cluster: LocalControlPlane, node_images: NodeImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Helm]:
    """The chart installed as users install it (``helm install --wait``): the operator runs as a pod of the
    project image, its webhook reached by the API server through its Service's endpoints."""
    assert node_images.project is not None and node_images.agent is not None
    repository, tag = node_images.project.name.rsplit(":", 1)
    binary = helm_binary()
    if binary is None:
        pytest.fail("helm not found: build it with scripts/controlplane-binaries", pytrace=False)
    helm = Helm(binary, tmp_path_factory.mktemp("helm-home"), real_cluster.kubeconfig)
    installed = helm.run(
        "install", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE, "--create-namespace",
        "--set", f"image.repository={repository}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
        "--set", f"sidecarImage={node_images.agent.name}",  # the agent's own image, as the chart's values allow
        "--set", "replicas=1", "--set", "podDisruptionBudget.enabled=false",
        # Short resyncs: missed injections and dependency changes are noticed in seconds, not half a minute.
        "--set", "extraEnv[0].name=MEMORIES_RESYNC_SECONDS", "--set-string", "extraEnv[0].value=3",
        "--wait", "--timeout", "180s",
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr + real_cluster.kubectl("get", "pods", "-A", "-o", "wide").stdout
    yield helm
    helm.run("uninstall", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--wait", "--timeout", "60s")
