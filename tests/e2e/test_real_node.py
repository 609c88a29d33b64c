"""The real node: pods run under a kubelet with containerd and runc, and nothing is left once it is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from memories.controlplane import LocalControlPlane
from memories.controlplane.binaries import ControlPlaneBinaries, kubernetes_version
from memories.controlplane.node import cgroups
from memories.controlplane.node.host_settings import RECORD_NAME, read_sysctls
from memories.controlplane.node.images import NodeImages
from memories.controlplane.node.instance import NodeInstance, node_root
from memories.controlplane.node.mounts import mounts_under
from memories.controlplane.node.network import NodeNetwork
from memories.controlplane.node.teardown import shim_processes, sweep_abandoned
from tests.e2e.conftest import start_real_cluster
from tests.operator.kube_helpers import apply, wait_for

pytestmark = pytest.mark.realnode
REPOSITORY = Path(__file__).resolve().parents[2]


def _namespace(cluster: LocalControlPlane) -> str:
    name = f"node-{uuid.uuid4().hex[:6]}"
    apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def busybox_pod(images: NodeImages, name: str, namespace: str, script: str, **container: Any) -> dict[str, Any]:
    """A pod of one busybox container running ``script`` with sh."""
    spec = {"name": "main", "image": images.busybox.name, "imagePullPolicy": "Never", "command": ["sh", "-c", script]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [{**spec, **container}]},
    }


def pod_json(cluster: LocalControlPlane, name: str, namespace: str) -> dict[str, Any]:
    result = cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def wait_phase(
    cluster: LocalControlPlane, name: str, namespace: str, phases: set[str], timeout: float = 90
) -> dict[str, Any]:
    return wait_for(
        lambda: body if (body := pod_json(cluster, name, namespace))["status"].get("phase") in phases else None,
        timeout_seconds=timeout,
        what=f"pod {name} in {phases}",
        describe=lambda: pod_json(cluster, name, namespace).get("status"),
    )


def test_node_registers_ready_with_this_kubelet_and_containerd(real_cluster: LocalControlPlane) -> None:
    assert real_cluster.node is not None
    node = json.loads(real_cluster.kubectl("get", "node", real_cluster.node.name, "-o", "json").stdout)
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == kubernetes_version()
    assert info["containerRuntimeVersion"].startswith("containerd://1.")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    addresses = {address["type"]: address["address"] for address in node["status"]["addresses"]}
    assert addresses["InternalIP"] == real_cluster.node.network.node_ip


def test_pod_runs_and_kubectl_logs_and_exec_reach_it(real_cluster: LocalControlPlane, node_images: NodeImages) -> None:
    namespace = _namespace(real_cluster)
    apply(real_cluster, busybox_pod(node_images, "hello", namespace, "echo started; exec sleep 600"))
    body = wait_phase(real_cluster, "hello", namespace, {"Running"})
    assert body["status"]["podIP"].startswith("10.250.")
    wait_for(lambda: "started" in real_cluster.kubectl("logs", "hello", "-n", namespace).stdout, what="the log line")
    executed = real_cluster.kubectl("exec", "hello", "-n", namespace, "--", "sh", "-c", "echo $((6 * 7))")
    assert executed.stdout.strip() == "42", executed.stderr


def test_memory_limit_is_enforced_by_the_kernel(real_cluster: LocalControlPlane, node_images: NodeImages) -> None:
    namespace = _namespace(real_cluster)
    # tmpfs pages count against the memory cgroup: writing 64 MiB into /dev/shm in a 32 MiB container gets the
    # writer (the container's only process) OOM-killed.
    script = "exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=64"
    limits = {"resources": {"limits": {"memory": "32Mi"}, "requests": {"memory": "32Mi"}}}
    apply(real_cluster, busybox_pod(node_images, "hungry", namespace, script, **limits))
    body = wait_phase(real_cluster, "hungry", namespace, {"Failed"})
    terminated = body["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137), terminated


API_CALL = """
import json, os, ssl, urllib.request
secrets = "/var/run/secrets/kubernetes.io/serviceaccount"
context = ssl.create_default_context(cafile=f"{secrets}/ca.crt")
request = urllib.request.Request(
    f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}/api/v1/namespaces/"
    + open(f"{secrets}/namespace").read() + "/pods",
    headers={"Authorization": "Bearer " + open(f"{secrets}/token").read()},
)
try:
    urllib.request.urlopen(request, context=context, timeout=10)
except urllib.error.HTTPError as error:
    print("status", error.code)  # the default ServiceAccount may not list pods: authenticated, then forbidden
with open("/proc/net/route") as routes:
    print("routes", [line.split()[1] for line in routes.readlines()[1:]])
"""


def test_pod_reaches_the_api_server_with_its_token_and_has_no_route_off_the_machine(
    real_cluster: LocalControlPlane, node_images: NodeImages
) -> None:
    assert node_images.project is not None
    namespace = _namespace(real_cluster)
    body = busybox_pod(node_images, "probe", namespace, "")
    body["spec"]["containers"][0].update(image=node_images.project.name, command=["python", "-c", API_CALL])
    apply(real_cluster, body)
    wait_phase(real_cluster, "probe", namespace, {"Succeeded", "Failed"})
    output = real_cluster.kubectl("logs", "probe", "-n", namespace).stdout
    # 403 names the service account: the API server authenticated the pod's projected token over the ClusterIP.
    assert "status 403" in output, output
    routes = next(line for line in output.splitlines() if line.startswith("routes"))
    assert "00000000" not in routes, routes  # no default route: nothing in a pod can be sent off the machine
    # The bridge plugin, as a gateway, would have turned IP forwarding on: the node must leave it as it found it.
    record = json.loads((node_root() / RECORD_NAME).read_text())
    assert read_sysctls()["net/ipv4/ip_forward"] == record["originals"]["net/ipv4/ip_forward"]


def _leftovers(instance_dir: Path, network: NodeNetwork, cgroup_name: str) -> list[str]:
    found = []
    if instance_dir.exists():
        found.append(f"directory {instance_dir}")
    found += [f"mount {path}" for path in mounts_under(instance_dir)]
    if subprocess.run(["ip", "link", "show", network.bridge], capture_output=True, check=False).returncode == 0:
        found.append(f"bridge {network.bridge}")
    found += [
        f"cgroup {hierarchy / cgroup_name}" for hierarchy in cgroups.hierarchies() if (hierarchy / cgroup_name).exists()
    ]
    found += [f"shim {shim.pid}" for shim in shim_processes(instance_dir / "containerd" / "containerd.sock")]
    return found


def _busy_pod(images: NodeImages, namespace: str) -> dict[str, Any]:
    """A pod with what a teardown must undo: a memory-backed emptyDir, a projected token, a running process."""
    body = busybox_pod(images, "busy", namespace, "exec sleep 600")
    body["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    return body


def test_stop_leaves_no_mount_cgroup_link_or_process(
    node_binaries: ControlPlaneBinaries, node_images: NodeImages, tmp_path: Path
) -> None:
    cluster = start_real_cluster(node_binaries, NodeImages(node_images.pause, node_images.busybox), tmp_path)
    try:
        assert cluster.node is not None
        instance, network = cluster.node.instance, cluster.node.network
        namespace = _namespace(cluster)
        apply(cluster, _busy_pod(node_images, namespace))
        wait_phase(cluster, "busy", namespace, {"Running"})
        assert mounts_under(instance.directory), "a running pod has mounts below the node's directory"
        processes = [*cluster.processes.values()]
    finally:
        cluster.stop()
    assert _leftovers(instance.directory, network, instance.cgroup_name or "") == []
    assert all(process.poll() is not None for process in processes)


OWNER_SCRIPT = """
import sys
from pathlib import Path
from tests.e2e.conftest import start_real_cluster
from tests.e2e.test_real_node import _busy_pod
from memories.controlplane import locate_binaries
from memories.controlplane.node.images import locate_images
images = locate_images(project=False)  # pause and busybox: a quick start
cluster = start_real_cluster(locate_binaries(), images, Path(sys.argv[1]))
cluster.kubectl("create", "namespace", "victim")
import json
cluster.kubectl("apply", "-f", "-", input_text=json.dumps(_busy_pod(images, "victim")))
cluster.kubectl("wait", "--for=condition=Ready", "pod/busy", "-n", "victim", "--timeout=90s")
print(cluster.node.instance.record_path, flush=True)
sys.stdin.read()
"""


def _start_owner(tmp_path: Path) -> tuple[subprocess.Popen[str], NodeInstance]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(tmp_path)],
        cwd=REPOSITORY, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert owner.stdout is not None
    line = owner.stdout.readline().strip()
    assert line, "the owner process did not start its cluster"
    return owner, NodeInstance.load(Path(line))


def test_a_killed_owner_is_torn_down_by_its_reaper(node_binaries: ControlPlaneBinaries, tmp_path: Path) -> None:
    owner, instance = _start_owner(tmp_path)
    network = NodeNetwork(instance.network_index or 0)
    control_plane_pids = [ref for name, ref in instance.processes.items()]
    os.killpg(owner.pid, signal.SIGKILL)  # the owner and nothing else of its session: the reaper has its own
    owner.wait()
    wait_for(
        lambda: not _leftovers(instance.directory, network, instance.cgroup_name or ""),
        timeout_seconds=90,
        what="the reaper to undo the node",
        describe=lambda: _leftovers(instance.directory, network, instance.cgroup_name or ""),
    )
    assert not any(ref.alive() for ref in control_plane_pids)
    assert instance.reaper is not None
    wait_for(lambda: not instance.reaper.alive(), what="the reaper to exit")  # type: ignore[union-attr]


def test_a_node_whose_owner_and_reaper_were_killed_is_swept(
    node_binaries: ControlPlaneBinaries, tmp_path: Path
) -> None:
    owner, instance = _start_owner(tmp_path)
    network = NodeNetwork(instance.network_index or 0)
    assert instance.reaper is not None
    os.kill(instance.reaper.pid, signal.SIGKILL)
    os.killpg(owner.pid, signal.SIGKILL)
    owner.wait()
    time.sleep(1)
    assert _leftovers(instance.directory, network, instance.cgroup_name or ""), "nothing was left to sweep"
    assert instance.id in sweep_abandoned(node_root())
    assert _leftovers(instance.directory, network, instance.cgroup_name or "") == []
