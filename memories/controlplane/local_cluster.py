"""A real etcd and kube-apiserver on loopback ports, the way controller-runtime's envtest runs them.

Used by the operator tests and ``memories dev``::

    with LocalControlPlane() as control_plane:
        control_plane.kubectl("get", "namespaces")

Everything lives in one temporary directory (data, certificates, logs, kubeconfig) removed by :meth:`stop`.
The admin user authenticates with a client certificate (CN ``admin``, O ``system:masters``).

With a :class:`~memories.controlplane.node.RealNode`, pods really run: the API server then listens on the
node's bridge, on the ``kubernetes`` Service's ClusterIP and port 443 (so pods reach it through their
in-cluster configuration), authorizes kubelets with the Node authorizer, mounts service-account tokens, and
calls webhooks at their endpoints (``--enable-aggregator-routing``: no kube-proxy runs).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import yaml

from memories.controlplane.binaries import ControlPlaneBinaries, locate_binaries
from memories.controlplane.certificates import CertificateAuthority, generate_signing_key_pem, write_pem
from memories.controlplane.kubeconfig import write_kubeconfig
from memories.controlplane.kubectl import run_kubectl
from memories.controlplane.processes import ManagedProcess, log_tail
from memories.controlplane.workloads import (
    FAKE_NODE_NAME,
    controller_manager_command,
    fake_node,
    kwok_command,
    scheduler_command,
)
from memories.errors import ControlPlaneError
from memories.local_processes import free_port

if TYPE_CHECKING:
    from memories.controlplane.node import RealNode

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
#: First address of the service range: the in-cluster ``kubernetes`` Service, named in the serving certificate.
KUBERNETES_SERVICE_IP = "10.0.0.1"


class LocalControlPlane:
    """etcd and kube-apiserver on free loopback ports, with an admin kubeconfig.

    Args:
        binaries: the binaries to run; default :func:`~memories.controlplane.binaries.locate_binaries`.
        workdir: parent of the temporary directory (default the system's temp dir).
        startup_timeout_seconds: how long :meth:`start` waits for ``/readyz``.
        stop_timeout_seconds: how long :meth:`stop` waits for each process after SIGTERM before SIGKILL.
        keep_workdir: leave the directory (logs, data) in place after :meth:`stop`, for debugging.
        workloads: also run kube-controller-manager, kube-scheduler and kwok with one fake node, so that
            Deployments create Pods that reach Running (needs those binaries; see ``scripts/controlplane-binaries``).
        node: a real node instead of kwok's fake one (implies ``workloads``): containers run.
    """

    def __init__(
        self,
        binaries: ControlPlaneBinaries | None = None,
        *,
        workdir: Path | None = None,
        startup_timeout_seconds: float = 90.0,
        stop_timeout_seconds: float = 15.0,
        keep_workdir: bool = False,
        workloads: bool = False,
        node: RealNode | None = None,
    ) -> None:
        self.binaries = binaries or locate_binaries()
        self._parent_dir = workdir
        self._startup_timeout_seconds = startup_timeout_seconds
        self._stop_timeout_seconds = stop_timeout_seconds
        self._keep_workdir = keep_workdir
        self._workloads = workloads or node is not None
        self.node = node
        self._processes: list[ManagedProcess] = []
        self._directory: Path | None = None
        self.api_host = "127.0.0.1"
        self.api_port = 0
        self.etcd_port = 0
        self.certificate_authority: CertificateAuthority | None = None

    @property
    def directory(self) -> Path:
        """The temporary directory of a started control plane.

        Raises:
            ControlPlaneError: not started.
        """
        if self._directory is None:
            raise ControlPlaneError("the control plane is not started")
        return self._directory

    @property
    def server_url(self) -> str:
        """``https://<host>:<port>`` of the API server (127.0.0.1, or the ClusterIP with a real node)."""
        return f"https://{self.api_host}:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (self-contained: certificates are embedded)."""
        return self.directory / "kubeconfig"

    @property
    def ca_path(self) -> Path:
        """PEM file of the CA that signed the API server's certificate and the admin client certificate."""
        return self.directory / "pki" / "ca.crt"

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        """The running child processes by name (etcd, kube-apiserver, and the workload ones when enabled)."""
        return {managed.name: managed.process for managed in self._processes}

    def start(self) -> LocalControlPlane:
        """Start etcd, then kube-apiserver, and wait until ``/readyz`` answers ok.

        Raises:
            ControlPlaneError: a process exited or the API server was not ready in time; everything is stopped.
        """
        if self._directory is not None:
            raise ControlPlaneError("the control plane is already started")
        self._directory = Path(tempfile.mkdtemp(prefix="memories-controlplane-", dir=self._parent_dir))
        try:
            if self.node is not None:
                network = self.node.prepare()
                if not self._keep_workdir:
                    self.node.own_directory(self._directory)
                self.api_host, self.api_port = network.api_address, 443
            else:
                self.api_port = free_port()
            self._write_credentials()
            self._start_etcd()
            self._start_api_server()
            self._wait_until_ready()
            if self._workloads:
                self._start_workloads()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the node (if any), the API server, etcd; remove the temporary directory (unless ``keep_workdir``)."""
        try:
            if self.node is not None:
                self.node.stop_processes()
            for process in reversed(self._processes):
                process.stop(self._stop_timeout_seconds)
            self._processes.clear()
        finally:
            if self.node is not None:
                self.node.release()
            if self._directory is not None and not self._keep_workdir:
                shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> LocalControlPlane:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def kubectl(
        self, *args: str, input_text: str | None = None, timeout_seconds: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this control plane; never raises on a non-zero exit status."""
        return run_kubectl(
            self.binaries.kubectl, self.kubeconfig, *args, input_text=input_text, timeout_seconds=timeout_seconds
        )

    def _spawn(self, name: str, command: list[str]) -> None:
        managed = ManagedProcess(name, command, self.directory / f"{name}.log")
        self._processes.append(managed)
        if self.node is not None:
            self.node.record_process(name, managed.process)

    def _write_credentials(self) -> None:
        pki = self.directory / "pki"
        pki.mkdir()
        authority = CertificateAuthority()
        self.certificate_authority = authority
        service_ip = self.api_host if self.node is not None else KUBERNETES_SERVICE_IP
        server = authority.issue(
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=tuple(dict.fromkeys(("127.0.0.1", service_ip))),
        )
        admin = authority.issue("admin", organizations=("system:masters",), server=False, client=True)
        kubelet_client = authority.issue(
            "kube-apiserver-kubelet-client", organizations=("system:masters",), server=False, client=True
        )
        write_pem(pki / "ca.crt", authority.certificate_pem)
        write_pem(pki / "apiserver.crt", server.certificate_pem)
        write_pem(pki / "apiserver.key", server.private_key_pem, private=True)
        write_pem(pki / "admin.crt", admin.certificate_pem)
        write_pem(pki / "admin.key", admin.private_key_pem, private=True)
        write_pem(pki / "kubelet-client.crt", kubelet_client.certificate_pem)
        write_pem(pki / "kubelet-client.key", kubelet_client.private_key_pem, private=True)
        write_pem(pki / "service-account.key", generate_signing_key_pem(), private=True)
        write_kubeconfig(
            self.kubeconfig, server_url=self.server_url, ca_pem=authority.certificate_pem, client=admin, user="admin"
        )

    def _start_etcd(self) -> None:
        self.etcd_port = free_port()
        peer_url = f"http://127.0.0.1:{free_port()}"
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        command = [
            str(self.binaries.etcd),
            f"--data-dir={self.directory / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        self._spawn("etcd", command)

    def _start_api_server(self) -> None:
        pki = self.directory / "pki"
        command = [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--bind-address={self.api_host}",
            f"--advertise-address={self.api_host}",
            f"--secure-port={self.api_port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--allow-privileged=true",
            f"--service-account-issuer={self.server_url}/",
            f"--service-account-key-file={pki / 'service-account.key'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            "--v=1",
        ]
        if self.node is None:
            # No controllers create the default ServiceAccounts here: pods must not need one.
            command += [
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                "--disable-admission-plugins=ServiceAccount",
            ]
        else:
            command += [
                f"--service-cluster-ip-range={self.node.network.service_range}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--enable-aggregator-routing=true",
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            ]
        self._spawn("kube-apiserver", command)

    def _readyz_answers(self, opener: urllib.request.OpenerDirector) -> bool:
        try:
            with opener.open(f"{self.server_url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _wait_until_ready(self) -> None:
        pki = self.directory / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        # No ProxyHandler entries: urllib would otherwise route https through a proxy configured for the host.
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        self._wait_for(lambda: self._readyz_answers(opener), "kube-apiserver answering /readyz", "kube-apiserver")

    def _wait_for(self, probe: Callable[[], bool], what: str, log_name: str) -> None:
        """Poll ``probe`` until true; raise ControlPlaneError when a process dies or the startup timeout passes."""
        deadline = time.monotonic() + self._startup_timeout_seconds
        while time.monotonic() < deadline:
            for process in self._processes:
                process.check_alive()
            if probe():
                return
            time.sleep(0.25)
        log_path = self.directory / f"{log_name}.log"
        raise ControlPlaneError(
            f"timed out after {self._startup_timeout_seconds:.0f} s waiting for {what}; "
            f"log {log_path}:\n{log_tail(log_path)}"
        )

    def _fake_node_ready(self) -> bool:
        ready = self.kubectl(
            "get", "node", FAKE_NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
        )
        return ready.stdout == "True"

    def _start_workloads(self) -> None:
        binaries = self.binaries
        if binaries.kube_controller_manager is None or binaries.kube_scheduler is None:
            raise ControlPlaneError(
                f"workloads need kube-controller-manager and kube-scheduler in {binaries.bin_dir}; "
                "build them with scripts/controlplane-binaries (without MEMORIES_CONTROLPLANE_MINIMAL=1)"
            )
        pki = self.directory / "pki"
        self._spawn(
            "kube-controller-manager",
            controller_manager_command(binaries.kube_controller_manager, self.kubeconfig, pki, free_port()),
        )
        self._spawn("kube-scheduler", scheduler_command(binaries.kube_scheduler, self.kubeconfig, pki, free_port()))
        if self.node is not None:
            assert self.certificate_authority is not None
            self.node.start(
                certificate_authority=self.certificate_authority, server_url=self.server_url, kubectl=self.kubectl
            )
            return
        if binaries.kwok is None:
            raise ControlPlaneError(
                f"a fake node needs kwok in {binaries.bin_dir}; build it with scripts/controlplane-binaries"
            )
        self._spawn("kwok", kwok_command(binaries.kwok, self.kubeconfig, free_port()))
        created = self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(fake_node()))
        if created.returncode != 0:
            raise ControlPlaneError(f"cannot create the fake node: {created.stderr.strip()}")
        self._wait_for(self._fake_node_ready, f"kwok to make node {FAKE_NODE_NAME} Ready", "kwok")
