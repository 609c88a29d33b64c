"""A real node: containerd + runc + a CNI bridge + a kubelet, registered with a :class:`LocalControlPlane`.

The control plane drives it in three steps, because the node's network must exist before the API server (which
listens on the bridge, see :mod:`~memories.controlplane.node.network`) and must go only after it:

1. :meth:`RealNode.prepare`: sweep nodes abandoned by killed runs, record this one, start its reaper, claim the
   bridge, take the host settings, create the cgroup root;
2. :meth:`RealNode.start`: containerd, the images, the kubelet, until the Node is Ready;
3. :meth:`RealNode.stop_processes` then (after the control plane's own processes) :meth:`RealNode.release`.

Every step is recorded first (:mod:`~memories.controlplane.node.instance`), so :mod:`~memories.controlplane.node.
teardown` can undo a node however far it got, and however its owner died.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from memories.controlplane.certificates import CertificateAuthority
from memories.controlplane.kubeconfig import write_kubeconfig
from memories.controlplane.node import cgroups, containerd, host_settings, kubelet, teardown
from memories.controlplane.node.images import NodeImages
from memories.controlplane.node.instance import NodeInstance, ProcessRef, node_root
from memories.controlplane.node.network import NodeNetwork, claim_network
from memories.controlplane.processes import ManagedProcess, log_tail
from memories.errors import ControlPlaneError
from memories.local_processes import free_port

#: Seconds the kubelet gets to register its Node and report Ready (measured < 30 s on an idle machine).
READY_TIMEOUT_SECONDS = 180.0
Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


class RealNode:
    """One node of a local cluster.

    Args:
        kubelet_binary: the kubelet built by ``scripts/controlplane-binaries``.
        pause_image: (name, OCI archive) of the sandbox image.
        images: further OCI archives imported into containerd before :meth:`start` returns.
        root: parent of the node's directory (default :func:`~memories.controlplane.node.instance.node_root`).
        progress: called with a line for each step (``memories dev`` prints them).
    """

    def __init__(
        self,
        kubelet_binary: Path,
        pause_image: tuple[str, Path],
        images: Sequence[Path] = (),
        *,
        root: Path | None = None,
        progress: Callable[[str], None] = lambda line: None,
    ) -> None:
        self._kubelet_binary = kubelet_binary
        self._pause_image = pause_image
        self._images = list(images)
        self._root = root or node_root()
        self._progress = progress
        self._instance: NodeInstance | None = None
        self._network: NodeNetwork | None = None
        self._reaper: subprocess.Popen[bytes] | None = None
        self._reaper_pipe: IO[bytes] | None = None
        self._processes: list[ManagedProcess] = []

    @classmethod
    def with_images(
        cls, kubelet_binary: Path, images: NodeImages, *, progress: Callable[[str], None] = lambda line: None
    ) -> RealNode:
        """A node running ``images`` (their pause image as the sandbox image)."""
        return cls(kubelet_binary, (images.pause.name, images.pause.path), images.archives(), progress=progress)

    @property
    def instance(self) -> NodeInstance:
        """The node's record.

        Raises:
            ControlPlaneError: :meth:`prepare` was not called.
        """
        if self._instance is None:
            raise ControlPlaneError("the node is not prepared")
        return self._instance

    @property
    def network(self) -> NodeNetwork:
        """The claimed network (after :meth:`prepare`)."""
        if self._network is None:
            raise ControlPlaneError("the node is not prepared")
        return self._network

    @property
    def name(self) -> str:
        """The Node's name in the API."""
        return f"memories-node-{self.instance.id}"

    @property
    def layout(self) -> containerd.ContainerdLayout:
        """containerd's paths."""
        return containerd.ContainerdLayout(self.instance.directory / "containerd")

    def prepare(self) -> NodeNetwork:
        """Sweep abandoned nodes, then create this node's record, reaper, bridge, host settings and cgroup root."""
        swept = teardown.sweep_abandoned(self._root)
        if swept:
            self._progress(f"removed {len(swept)} node(s) left behind by killed runs: {', '.join(swept)}")
        self._instance = instance = NodeInstance.create(self._root)
        self._start_reaper()
        self._network = claim_network()
        instance.network_index = self._network.index
        instance.save()
        host_settings.acquire(self._root, instance.id)
        instance.holds_host_settings = True
        instance.cgroup_name = f"memories-node-{instance.id}"
        instance.save()
        cgroups.create_root(instance.cgroup_name)
        return self._network

    def _start_reaper(self) -> None:
        read_end, write_end = os.pipe()
        try:
            log = (self.instance.directory / "reaper.log").open("ab")
            # Its own session: a Ctrl-C or a signal to the owner's process group does not reach it.
            self._reaper = subprocess.Popen(
                [sys.executable, "-m", "memories.controlplane.node.reaper", str(self.instance.record_path)],
                stdin=read_end,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd="/",
            )
            log.close()
        finally:
            os.close(read_end)
        os.set_inheritable(write_end, False)
        self._reaper_pipe = os.fdopen(write_end, "wb")
        self.instance.reaper = ProcessRef.of(self._reaper.pid)
        self.instance.save()

    def own_directory(self, directory: Path) -> None:
        """Remove ``directory`` with the node, also when the owner was killed (the control plane's directory)."""
        self.instance.owned_directories.append(str(directory))
        self.instance.save()

    def record_process(self, name: str, process: subprocess.Popen[bytes]) -> None:
        """Add a control-plane process to the record, so a teardown after a crash stops it too."""
        with contextlib.suppress(ProcessLookupError):
            self.instance.processes[name] = ProcessRef.of(process.pid)
            self.instance.save()

    def _spawn(self, name: str, command: list[str]) -> ManagedProcess:
        managed = ManagedProcess(name, command, self.instance.directory / f"{name}.log")
        self._processes.append(managed)
        self.record_process(name, managed.process)
        return managed

    def start(self, *, certificate_authority: CertificateAuthority, server_url: str, kubectl: Kubectl) -> None:
        """Start containerd, import the images, start the kubelet and wait until the Node is Ready.

        Raises:
            ControlPlaneError: a process exited, an image import failed, or the Node was not Ready in time.
        """
        instance, network = self.instance, self.network
        layout = self.layout
        pause_name, pause_archive = self._pause_image
        containerd.write_configuration(layout, network, pause_name)
        self._progress("starting containerd")
        runtime = self._spawn(teardown.CONTAINERD, containerd.containerd_command(layout))
        self._wait_for(lambda: layout.socket.exists() and containerd.ctr(layout, "version").returncode == 0,
                       "containerd's socket", [runtime], 30.0)  # fmt: skip
        began = time.monotonic()
        containerd.import_image(layout, pause_archive)
        kubelet_dir = instance.directory / "kubelet"
        kubelet_dir.mkdir()
        client = certificate_authority.issue(
            f"system:node:{self.name}", organizations=("system:nodes",), server=False, client=True
        )
        kubeconfig = write_kubeconfig(
            instance.directory / "kubelet.kubeconfig",
            server_url=server_url,
            ca_pem=certificate_authority.certificate_pem,
            client=client,
            user=f"system:node:{self.name}",
        )
        ca_file = instance.directory / "ca.crt"
        ca_file.write_bytes(certificate_authority.certificate_pem)
        config = kubelet.write_configuration(
            instance.directory,
            network=network,
            port=free_port(),
            healthz_port=free_port(),
            client_ca_file=ca_file,
            cgroup_root=instance.cgroup_name or "",
            runtime_socket=layout.socket,
            pod_logs_dir=instance.directory / "pod-logs",
        )
        self._progress(f"starting the kubelet (node {self.name}, pods on {network.bridge} {network.pod_subnet})")
        kubelet_process = self._spawn(
            teardown.KUBELET,
            kubelet.kubelet_command(
                self._kubelet_binary,
                config=config,
                kubeconfig=kubeconfig,
                root_dir=kubelet_dir,
                node_name=self.name,
                node_ip=network.node_ip,
            ),
        )
        for archive in self._images:
            self._progress(f"importing {archive.name} into containerd")
            containerd.import_image(layout, archive)
        self._progress(f"images imported in {time.monotonic() - began:.0f} s; waiting for node {self.name} Ready")
        self._wait_for(
            lambda: self._ready(kubectl), f"node {self.name} Ready", [runtime, kubelet_process], READY_TIMEOUT_SECONDS
        )

    def _ready(self, kubectl: Kubectl) -> bool:
        result = kubectl("get", "node", self.name, "-o", "json")
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout).get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _wait_for(
        self, probe: Callable[[], bool], what: str, processes: list[ManagedProcess], timeout_seconds: float
    ) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not probe():
            for process in processes:
                process.check_alive()
            if time.monotonic() > deadline:
                newest = processes[-1]
                raise ControlPlaneError(
                    f"timed out after {timeout_seconds:.0f} s waiting for {what}; "
                    f"log {newest.log_path}:\n{log_tail(newest.log_path)}"
                )
            time.sleep(0.5)

    def stop_processes(self) -> None:
        """Stop the kubelet, the containers, the shims and containerd; unmount what they leave."""
        if self._instance is None:
            return
        for process in reversed(self._processes):
            process.stop(15.0)
            if process.name == teardown.KUBELET:
                teardown.stop_node_processes(self._instance)  # containers, while their shims still run
        self._processes.clear()
        teardown.stop_node_processes(self._instance)

    def release(self) -> None:
        """Remove everything else (cgroups, bridge, host settings, directory); then let the reaper go."""
        if self._instance is None:
            return
        try:
            teardown.release_node(self._instance)
        finally:
            self._instance = None
            self._network = None
            if self._reaper_pipe is not None:
                self._reaper_pipe.close()  # end of file: the reaper finds no record and exits
                self._reaper_pipe = None
            if self._reaper is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._reaper.wait(timeout=30)
                self._reaper = None
