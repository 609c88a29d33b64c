"""Run the operator as a local process against any cluster reachable by kubeconfig.

Used by the tests (against the real local kube-apiserver) and by ``memories dev``: it creates the
webhook's serving certificate, starts ``memories operator`` with it, and registers the
MutatingWebhookConfiguration pointing at ``https://127.0.0.1:<port>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from memories.controlplane.certificates import CertificateAuthority, write_pem
from memories.errors import MemoriesError
from memories.local_processes import free_port, stop_process
from memories.operator.webhook_config import mutating_webhook_configuration
from memories.resources import crds_directory, deploy_file

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


class OperatorProcessError(MemoriesError):
    """The local operator process exited or did not become live; the message holds its log tail."""


def install_crds(kubectl: Kubectl, directory: Path | None = None) -> None:
    """Apply every CRD file of ``directory`` (default: the package's CRDs; not their examples/) and wait until
    each is Established."""
    files = [
        argument for path in sorted((directory or crds_directory()).glob("*.yaml")) for argument in ("-f", str(path))
    ]
    for args in (("apply", *files), ("wait", "--for=condition=Established", "--timeout=60s", *files)):
        result = kubectl(*args)
        if result.returncode != 0:
            raise OperatorProcessError(f"kubectl {args[0]} of the CRDs failed: {result.stderr.strip()}")


class LocalOperator:
    """``memories operator`` as a child process, with its webhook registered in the cluster.

    Args:
        kubeconfig: the cluster to operate on.
        kubectl: runs kubectl against that cluster: ``kubectl(*args, input_text=...)``.
        workdir: where certificates and the operator's log go.
        resync_seconds: the policies' periodic resync interval (short in tests).
        peering_priority: join kopf peering with this priority (None: run standalone).
        image: the agent image to inject (None: the operator's default image).
    """

    def __init__(
        self,
        kubeconfig: Path,
        kubectl: Kubectl,
        workdir: Path,
        *,
        operator_namespace: str = "memories-system",
        resync_seconds: float = 2.0,
        startup_timeout_seconds: float = 60.0,
        peering_priority: int | None = None,
        image: str | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl = kubectl
        self.workdir = workdir
        self.operator_namespace = operator_namespace
        self.resync_seconds = resync_seconds
        self.startup_timeout_seconds = startup_timeout_seconds
        #: None runs standalone; a number joins kopf peering with that priority (highest one reconciles).
        self.peering_priority = peering_priority
        #: The agent image the webhook injects (None: the operator's default).
        self.image = image
        self.webhook_port = 0
        self.liveness_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self.certificate_authority = CertificateAuthority("memories-webhook-ca")

    @property
    def log_path(self) -> Path:
        """The operator's combined stdout and stderr."""
        return self.workdir / "operator.log"

    def _check(self, *args: str, input_text: str | None = None) -> None:
        result = self.kubectl(*args, input_text=input_text)
        if result.returncode != 0:
            raise OperatorProcessError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")

    def install_cluster_objects(self) -> None:
        """The peering object and the operator's namespace (idempotent; the CRDs must be installed)."""
        self._check("apply", "-f", str(deploy_file("peering.yaml")))
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.operator_namespace}}
        self._check("apply", "-f", "-", input_text=json.dumps(namespace))

    def rotate_certificate(self) -> tuple[Path, Path]:
        """Issue a fresh serving certificate from the same CA into the files the operator serves."""
        serving = self.certificate_authority.issue(
            "memories-webhook", dns_names=("localhost",), ip_addresses=("127.0.0.1",)
        )
        key_file = write_pem(self.workdir / "tls.key", serving.private_key_pem, private=True)
        return write_pem(self.workdir / "tls.crt", serving.certificate_pem), key_file

    def start(self) -> LocalOperator:
        """Start the process, wait for its liveness probe, then register the webhook."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        serving = self.certificate_authority.issue(
            "memories-webhook", dns_names=("localhost",), ip_addresses=("127.0.0.1",)
        )
        cert_file = write_pem(self.workdir / "tls.crt", serving.certificate_pem)
        key_file = write_pem(self.workdir / "tls.key", serving.private_key_pem, private=True)
        self.install_cluster_objects()
        self.webhook_port, self.liveness_port = free_port(), free_port()
        environment = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "MEMORIES_RESYNC_SECONDS": str(self.resync_seconds),
            # Registered by URL right after start-up: reachable at once, no Service endpoint to wait for.
            "MEMORIES_WEBHOOK_WARMUP_SECONDS": "1",
        }
        peering = ["--standalone"] if self.peering_priority is None else ["--priority", str(self.peering_priority)]
        command = [
            sys.executable, "-m", "memories", "operator", *peering,
            "--namespace", self.operator_namespace,
            "--webhook-host", "127.0.0.1", "--webhook-port", str(self.webhook_port),
            "--webhook-cert", str(cert_file), "--webhook-key", str(key_file), "--webhook-cert-check-interval", "1",
            "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz",
            *(["--image", self.image] if self.image else []),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        self._wait_until_live()
        configuration = mutating_webhook_configuration(
            ca_bundle_pem=self.certificate_authority.certificate_pem,
            operator_namespace=self.operator_namespace,
            url=f"https://127.0.0.1:{self.webhook_port}",
        )
        self._check("apply", "-f", "-", input_text=json.dumps(configuration))
        return self

    def _wait_until_live(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_seconds
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise OperatorProcessError(f"the operator exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise OperatorProcessError(
            f"the operator was not live after {self.startup_timeout_seconds}s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the operator's log, for error messages."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, *, unregister_webhook: bool = True) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 20 s) and remove the webhook registration."""
        if unregister_webhook:
            self.kubectl("delete", "mutatingwebhookconfiguration", "memories-optimizer", "--ignore-not-found")
        if self._process is not None:
            stop_process(self._process, 20)
        self._process = None

    def __enter__(self) -> LocalOperator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
