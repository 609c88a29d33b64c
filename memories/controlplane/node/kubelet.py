"""The kubelet of one node: its KubeletConfiguration, its kubeconfig, its command line.

Settings this sandbox needs (docs/realnode.md): cgroup v1 with the cgroupfs driver and a hand-made ``cgroupRoot``;
no negative OOM score; no iptables chains; low eviction thresholds. The kubelet listens only on the node's
bridge address, accepts only client certificates of the control plane's CA (the API server's), and pods get a
resolv.conf naming only the pod's own loopback (no DNS runs; with no server named, containerd would copy the
machine's resolv.conf, whose server is off the machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from memories.controlplane.node.network import NodeNetwork

#: How often the kubelet re-syncs pods, which bounds how late a changed ConfigMap reaches a mounted volume
#: (the default is 1 minute; tests of hot reload should not wait that long).
SYNC_FREQUENCY = "10s"


def kubelet_configuration(
    *,
    network: NodeNetwork,
    port: int,
    healthz_port: int,
    client_ca_file: Path,
    cgroup_root: str,
    runtime_socket: Path,
    pod_logs_dir: Path,
    resolv_conf: Path,
) -> dict[str, Any]:
    """The KubeletConfiguration document."""
    endpoint = f"unix://{runtime_socket}"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": network.node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(client_ca_file)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": endpoint,
        "imageServiceEndpoint": endpoint,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{cgroup_root}",
        "cgroupsPerQOS": True,
        "failCgroupV1": False,
        "failSwapOn": False,
        "oomScoreAdj": 0,
        "makeIPTablesUtilChains": False,
        "podLogsDir": str(pod_logs_dir),
        "resolvConf": str(resolv_conf),
        "clusterDomain": "cluster.local",
        "syncFrequency": SYNC_FREQUENCY,
        "serializeImagePulls": False,
        # Images come from local archives: never garbage-collect them while disk usage is normal.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "maxPods": 60,
        "shutdownGracePeriod": "0s",
        "registerNode": True,
    }


def write_configuration(directory: Path, **settings: Any) -> Path:
    """Write the configuration (and the empty resolv.conf it names) into ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    resolv_conf = directory / "resolv.conf"
    resolv_conf.write_text(
        "# No DNS on this node: a query goes to the pod's own loopback and fails there.\nnameserver 127.0.0.1\n"
    )
    path = directory / "kubelet-config.yaml"
    path.write_text(yaml.safe_dump(kubelet_configuration(resolv_conf=resolv_conf, **settings), sort_keys=False))
    return path


def kubelet_command(
    binary: Path, *, config: Path, kubeconfig: Path, root_dir: Path, node_name: str, node_ip: str
) -> list[str]:
    """The kubelet's command line (the settings only flags can give)."""
    return [
        str(binary),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={root_dir}",
        f"--cert-dir={root_dir / 'pki'}",
        f"--hostname-override={node_name}",
        f"--node-ip={node_ip}",
        "--v=1",
    ]
