"""containerd for one node: its configuration, its command line, and image import with ``ctr``.

Everything containerd keeps goes below the node's directory (root, state, the runc root, the network
namespaces' mounts, the CNI configuration and IPAM state), except what containerd 1.6 hard-codes: shim sockets
in ``/run/containerd/s`` (removed by the shims when they exit; the teardown removes a killed shim's socket).
Settings this sandbox needs (docs/realnode.md): no negative OOM scores, cgroupfs (not systemd) cgroups.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from memories.controlplane.node.network import CNI_BIN_DIR, NodeNetwork
from memories.errors import ControlPlaneError

#: The containerd namespace the CRI plugin (and so the kubelet) uses.
CRI_NAMESPACE = "k8s.io"
#: Shim sockets containerd 1.6 always creates here (not below its state directory).
SHIM_SOCKET_DIR = Path("/run/containerd/s")


@dataclass(frozen=True)
class ContainerdLayout:
    """Paths of one node's containerd below ``directory``."""

    directory: Path

    @property
    def socket(self) -> Path:
        """The gRPC socket the kubelet and ctr talk to."""
        return self.directory / "containerd.sock"

    @property
    def config(self) -> Path:
        """containerd's config.toml."""
        return self.directory / "config.toml"

    @property
    def cni_conf_dir(self) -> Path:
        """Where the CNI conflist is."""
        return self.directory / "cni" / "net.d"

    @property
    def ipam_dir(self) -> Path:
        """host-local IPAM's allocations."""
        return self.directory / "cni" / "ipam"


def _toml_string(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def containerd_config(layout: ContainerdLayout, sandbox_image: str) -> str:
    """config.toml (version 2) for a private containerd serving the CRI on ``layout.socket``."""
    d = layout.directory
    return f"""version = 2
root = {_toml_string(d / "root")}
state = {_toml_string(d / "state")}
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = {_toml_string(layout.socket)}

[ttrpc]
  address = {_toml_string(d / "containerd.ttrpc.sock")}

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = {_toml_string(d / "opt")}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {_toml_string(sandbox_image)}
  # No CAP_SYS_RESOURCE in this sandbox: OOM scores can only go up.
  restrict_oom_score_adj = true
  # Network namespaces below the state directory, not in the machine-wide /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = {_toml_string(d / "runc")}

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {_toml_string(CNI_BIN_DIR)}
    conf_dir = {_toml_string(layout.cni_conf_dir)}
    max_conf_num = 1
"""


def write_configuration(layout: ContainerdLayout, network: NodeNetwork, sandbox_image: str) -> None:
    """Write config.toml and the CNI conflist."""
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    layout.ipam_dir.mkdir(parents=True, exist_ok=True)
    layout.config.write_text(containerd_config(layout, sandbox_image))
    (layout.cni_conf_dir / "10-memories.conflist").write_text(json.dumps(network.cni_config(layout.ipam_dir), indent=2))


def containerd_command(layout: ContainerdLayout) -> list[str]:
    """The command line starting this node's containerd."""
    binary = shutil.which("containerd")
    if binary is None:
        raise ControlPlaneError("containerd is not installed (apt-get install containerd; scripts/setup does it)")
    return [binary, "--config", str(layout.config), "--log-level", "warn"]


def ctr(layout: ContainerdLayout, *args: str, timeout_seconds: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run ``ctr`` against this containerd in the CRI namespace; never raises on a non-zero exit status."""
    binary = shutil.which("ctr")
    if binary is None:
        raise ControlPlaneError("ctr is not installed (it comes with Debian's containerd package)")
    return subprocess.run(
        [binary, "--address", str(layout.socket), "--namespace", CRI_NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )


def import_image(layout: ContainerdLayout, archive: Path) -> None:
    """Import an OCI image archive (unpacked for the overlayfs snapshotter, so pods start without a pull).

    Raises:
        ControlPlaneError: ctr refused the archive.
    """
    result = ctr(layout, "images", "import", str(archive))
    if result.returncode != 0:
        raise ControlPlaneError(f"ctr images import {archive} failed: {result.stderr.strip() or result.stdout.strip()}")


def image_names(layout: ContainerdLayout) -> set[str]:
    """Names of the images this containerd holds."""
    result = ctr(layout, "images", "list", "--quiet", timeout_seconds=60)
    if result.returncode != 0:
        raise ControlPlaneError(f"ctr images list failed: {result.stderr.strip()}")
    return set(result.stdout.split())
