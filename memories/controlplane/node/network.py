"""The node's network: one Linux bridge per node, pods on it, nothing routed off the machine.

Node number ``N`` (0-255, claimed by creating bridge ``memnodeN``, so concurrent nodes never share one) owns:

- ``10.250.N.0/24``: pod addresses (host-local IPAM from ``.10``); the bridge has ``10.250.N.1``, which is also the
  node's InternalIP where the kubelet listens;
- ``10.251.N.0/24``: the cluster's Service range. Its first address, the ClusterIP of the ``kubernetes`` Service,
  is put on the bridge as well and the API server listens there on port 443, so pods reach the API server through
  ``KUBERNETES_SERVICE_HOST`` as in any cluster, although no kube-proxy runs. Other ClusterIPs lead nowhere; the
  API server reaches webhooks at their endpoints (``--enable-aggregator-routing``).

The bridge plugin runs with ``isGateway: false`` and ``ipMasq: false``: it never turns on IP forwarding and writes
no iptables rule; pods get a route to the Service range through the bridge and no default route.
"""

from __future__ import annotations

import ipaddress
import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memories.errors import ControlPlaneError

BRIDGE_PREFIX = "memnode"
#: Every node's pod and Service ranges lie inside this block (what the safety route covers).
NODE_BLOCK = "10.250.0.0/15"
#: Where Debian's containernetworking-plugins installs the CNI plugins.
CNI_BIN_DIR = Path("/usr/lib/cni")


def ip_command(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run iproute2's ``ip``; with ``check``, raise ControlPlaneError quoting its message on failure."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise ControlPlaneError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class NodeNetwork:
    """The addresses of node number ``index``."""

    index: int

    @property
    def bridge(self) -> str:
        """Name of the Linux bridge the pods' veths join."""
        return f"{BRIDGE_PREFIX}{self.index}"

    @property
    def pod_subnet(self) -> str:
        """CIDR the pods get their addresses from."""
        return f"10.250.{self.index}.0/24"

    @property
    def node_ip(self) -> str:
        """The bridge's address: the pods' gateway to the Service range, the kubelet's address."""
        return f"10.250.{self.index}.1"

    @property
    def service_range(self) -> str:
        """The API server's ``--service-cluster-ip-range``."""
        return f"10.251.{self.index}.0/24"

    @property
    def api_address(self) -> str:
        """ClusterIP of the ``kubernetes`` Service, and where the API server listens (port 443)."""
        return f"10.251.{self.index}.1"

    def network_name(self) -> str:
        """The CNI network's name (IPAM and CNI cache files carry it)."""
        return f"memories-{self.bridge}"

    def cni_config(self, ipam_dir: Path) -> dict[str, Any]:
        """The CNI conflist containerd reads: a bridge with host-local IPAM (state in ``ipam_dir``)."""
        return {
            "cniVersion": "1.0.0",
            "name": self.network_name(),
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(ipam_dir),
                        "ranges": [
                            [
                                {
                                    "subnet": self.pod_subnet,
                                    "gateway": self.node_ip,
                                    "rangeStart": f"10.250.{self.index}.10",
                                }
                            ]
                        ],
                        "routes": [{"dst": self.service_range, "gw": self.node_ip}],
                    },
                },
                {"type": "loopback"},
            ],
        }


def _addresses_in_use() -> list[ipaddress.IPv4Network]:
    listing = json.loads(ip_command("-j", "-4", "route", "show", "table", "all").stdout or "[]")
    networks = []
    for route in listing:
        destination = route.get("dst", "")
        if destination and destination != "default":
            try:
                networks.append(ipaddress.ip_network(destination, strict=False))
            except ValueError:
                continue
    return [network for network in networks if isinstance(network, ipaddress.IPv4Network)]


def _bridge_exists(name: str) -> bool:
    return ip_command("link", "show", "dev", name, check=False).returncode == 0


def claim_network(*, attempts: int = 256) -> NodeNetwork:
    """Pick a free node number and create its bridge, with both addresses, up.

    Creating the link is the claim: a concurrent node that picked the same number fails to create it and picks
    another. Ranges that overlap any route of the machine (other than the safety route) are skipped.

    Raises:
        ControlPlaneError: no number is free, or ``ip`` fails.
    """
    safety = ipaddress.ip_network(NODE_BLOCK)
    candidates = list(range(256))
    random.SystemRandom().shuffle(candidates)
    for index in candidates[:attempts]:
        network = NodeNetwork(index)
        wanted = [ipaddress.ip_network(network.pod_subnet), ipaddress.ip_network(network.service_range)]
        in_use = [route for route in _addresses_in_use() if route != safety]
        if _bridge_exists(network.bridge) or any(route.overlaps(want) for route in in_use for want in wanted):
            continue
        if ip_command("link", "add", "name", network.bridge, "type", "bridge", check=False).returncode != 0:
            continue  # claimed by someone else meanwhile
        try:
            _disable_ipv6(network.bridge)
            ip_command("addr", "add", f"{network.node_ip}/24", "dev", network.bridge)
            ip_command("addr", "add", f"{network.api_address}/32", "dev", network.bridge)
            ip_command("link", "set", "dev", network.bridge, "up")
        except BaseException:
            delete_bridge(network.bridge)
            raise
        return network
    raise ControlPlaneError(f"no free node network: every {BRIDGE_PREFIX}N bridge (N = 0..255) is taken")


def _disable_ipv6(interface: str) -> None:
    # Per interface, gone with it: the bridge never sends router solicitations or other IPv6 chatter.
    setting = Path("/proc/sys/net/ipv6/conf") / interface / "disable_ipv6"
    if setting.exists():
        setting.write_text("1\n")


def delete_bridge(name: str) -> None:
    """Delete the bridge (its addresses and routes go with it); absent is fine."""
    if _bridge_exists(name):
        ip_command("link", "delete", "dev", name)


def leftover_veths(bridge: str) -> list[str]:
    """Host ends of pod veths still attached to ``bridge`` (none once every pod's network namespace is gone)."""
    listing = json.loads(ip_command("-j", "link", "show", "master", bridge, check=False).stdout or "[]")
    return [str(link["ifname"]) for link in listing]
