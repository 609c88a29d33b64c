"""Bring the whole system up on this machine, and take it down again leaving nothing behind.

Steps, each announced on stderr: the control plane (the cached binaries the tests use, built on
first run) or an existing cluster, the CRDs, the operator as a local process with its webhook, the
examples plus an opted-in demo pod, and one sidecar running the demo policy's rendered config with a
little traffic so its hit rates move. Stopping, newest first, announces each step the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from memories.controlplane import LocalControlPlane, build_binaries, locate_binaries
from memories.controlplane.kubectl import run_kubectl
from memories.errors import ControlPlaneError, MemoriesError
from memories.local_processes import free_port, stop_process
from memories.operator import constants
from memories.operator.local import LocalOperator, install_crds
from memories.resources import examples_directory

DEMO_NAMESPACE = "memories-demo"
EXAMPLES_NAMESPACE = "memories-examples"
DEMO_POLICY = "tiles"
Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


def announce(message: str) -> None:
    """A progress line on stderr."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def kubectl_for(kubeconfig: Path) -> Kubectl:
    """A kubectl runner for an existing cluster (kubectl from the PATH, else the cached build)."""
    binary = shutil.which("kubectl") or locate_binaries().kubectl

    def run(
        *args: str, input_text: str | None = None, timeout_seconds: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(binary, kubeconfig, *args, input_text=input_text, timeout_seconds=timeout_seconds)

    return run


def checked(kubectl: Kubectl, *args: str, input_text: str | None = None) -> str:
    """Run kubectl; raise MemoriesError with its message when it fails."""
    result = kubectl(*args, input_text=input_text)
    if result.returncode != 0:
        raise MemoriesError(f"kubectl {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return str(result.stdout)


def demo_pod(image: str | None = None) -> dict[str, Any]:
    """An opted-in pod a policy of the examples selects.

    On kwok's node (``image`` None) it is injected and "runs" without containers. On a real node it is the
    agent image running ``memories agent-check --watch`` beside its injected agent.
    """
    if image is not None:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "inference-demo",
                "namespace": EXAMPLES_NAMESPACE,
                "labels": {"app": "inference", constants.INJECT_LABEL: constants.INJECT_ENABLED},
            },
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "args": ["agent-check", "--watch", "--interval", "1"],
                    }
                ]
            },
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "tile-server-demo",
            "namespace": DEMO_NAMESPACE,
            "labels": {"app": "tile-server", constants.INJECT_LABEL: constants.INJECT_ENABLED},
        },
        "spec": {"containers": [{"name": "app", "image": "registry.example/tile-server:1"}]},
    }


def localize_config(rendered: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], int]:
    """Adapt a pod's rendered sidecar config to a process on this host; returns it and its ops port."""
    config = json.loads(json.dumps(rendered))
    ops_port = free_port()
    config["server"] = {
        "resp": {"host": "127.0.0.1", "port": free_port()},
        "http": {"host": "127.0.0.1", "port": free_port()},
        "ops": {"host": "127.0.0.1", "port": ops_port},
    }
    cache = config.setdefault("cache", {})
    cache.pop("l3", None)  # the example's Redis Secret points into a cluster network this host cannot reach
    if "l2Size" in cache:
        cache["l2Path"] = str(workdir / "l2")
    if "dedup" in config:
        config["dedup"]["storePath"] = str(workdir / "dedup")
    if "memoryPool" in config:
        config["memoryPool"].pop("shmName", None)
        config["memoryPool"]["path"] = str(workdir / "pool")
    config.pop("prefetch", None)  # the example ships a placeholder, not a trained model
    return config, ops_port


class DevSystem:
    """Everything ``memories dev`` starts, in start order; :meth:`close` stops it in reverse order."""

    def __init__(self, workdir: Path, kubeconfig: Path | None = None, node_mode: str = "auto") -> None:
        self.workdir = workdir
        self.kubeconfig = kubeconfig
        self.node_mode = node_mode
        #: The image pods and the injected agents run on the real node (None on kwok or an existing cluster).
        self.image: str | None = None
        self._stack = contextlib.ExitStack()
        self.kubectl: Kubectl | None = None
        self.sidecar_ops_port = 0
        self.sidecar_resp_port = 0
        self._stop_traffic = threading.Event()

    def start(self) -> DevSystem:
        """Bring everything up; on any failure, stop what was started and re-raise."""
        try:
            self._start_cluster()
            self._install_and_operate()
            self._start_sidecar()
        except BaseException:
            self.close()
            raise
        return self

    def _start_cluster(self) -> None:
        if self.kubeconfig is not None:
            announce(f"using the cluster of {self.kubeconfig}")
            self.kubectl = kubectl_for(self.kubeconfig)
            return
        try:
            binaries = locate_binaries()
        except ControlPlaneError:
            announce("building the control plane binaries once (15-30 minutes; progress follows)")
            binaries = build_binaries()
        from memories.dev.node_choice import choose_node

        # With the controllers and a node (real, else kwok's fake one), the examples' Deployments get pods too.
        workloads = None not in (binaries.kube_controller_manager, binaries.kube_scheduler, binaries.kwok)
        node, images = choose_node(binaries, self.node_mode, announce) if workloads else (None, None)
        if images is not None and images.agent is not None:
            self.image = images.agent.name
        what = ", controllers and a real node" if node else ", controllers and a kwok node" if workloads else ""
        announce(f"starting etcd and kube-apiserver{what}")
        control_plane = self._stack.enter_context(
            LocalControlPlane(binaries, workdir=self.workdir, workloads=workloads, node=node)
        )
        self._stack.callback(announce, f"stopping etcd and kube-apiserver{what}")  # runs before its exit
        self.kubeconfig, self.kubectl = control_plane.kubeconfig, control_plane.kubectl
        announce(f"control plane ready: export KUBECONFIG={control_plane.kubeconfig}")

    def _install_and_operate(self) -> None:
        assert self.kubectl is not None and self.kubeconfig is not None
        announce("installing the CRDs")
        install_crds(self.kubectl)
        announce("starting the operator and registering its webhook")
        operator = LocalOperator(
            self.kubeconfig, self.kubectl, self.workdir / "operator", resync_seconds=3.0, image=self.image
        )
        self._stack.enter_context(operator)
        self._stack.callback(announce, "stopping the operator and removing its webhook")
        announce("applying the examples and an opted-in demo pod")
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": EXAMPLES_NAMESPACE}}
        checked(self.kubectl, "apply", "-f", "-", input_text=json.dumps(namespace))
        for example in sorted(examples_directory().glob("*.yaml")):
            scoped = () if example.name == "demo.yaml" else ("-n", EXAMPLES_NAMESPACE)
            checked(self.kubectl, "apply", *scoped, "-f", str(example))
        self._stack.callback(self._delete_examples)
        self._stack.callback(announce, "deleting the examples' namespaces")
        self._wait_until(self._demo_policy_ready, "the demo CachePolicy to be Ready", 60)
        checked(self.kubectl, "apply", "-f", "-", input_text=json.dumps(demo_pod(self.image)))

    def _delete_examples(self) -> None:
        if self.kubectl is None:
            return
        for namespace in (DEMO_NAMESPACE, EXAMPLES_NAMESPACE):
            self.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")

    def _demo_policy_ready(self) -> bool:
        assert self.kubectl is not None
        body = json.loads(checked(self.kubectl, "get", "cachepolicy", DEMO_POLICY, "-n", DEMO_NAMESPACE, "-o", "json"))
        conditions = (body.get("status") or {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _start_sidecar(self) -> None:
        assert self.kubectl is not None
        announce("starting a sidecar with the demo policy's rendered config")
        config_map = json.loads(
            checked(
                self.kubectl,
                "get",
                "configmap",
                constants.config_map_name(DEMO_POLICY),
                "-n",
                DEMO_NAMESPACE,
                "-o",
                "json",
            )
        )
        rendered = yaml.safe_load(config_map["data"][constants.CONFIG_FILE_NAME])
        config, self.sidecar_ops_port = localize_config(rendered, self.workdir / "sidecar")
        self.sidecar_resp_port = int(config["server"]["resp"]["port"])
        config_path = self.workdir / "sidecar.yaml"
        (self.workdir / "sidecar").mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump(config))
        log = self._stack.enter_context((self.workdir / "sidecar.log").open("ab"))
        process = subprocess.Popen(
            [sys.executable, "-m", "memories", "sidecar", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._stack.callback(stop_process, process, 15)
        self._stack.callback(announce, "stopping the sidecar")
        self._wait_until(self._sidecar_ready, "the sidecar's /readyz", 30)
        traffic = threading.Thread(target=self._traffic, name="memories-dev-traffic", daemon=True)
        traffic.start()
        self._stack.callback(self._stop_traffic.set)

    def _sidecar_ready(self) -> bool:
        from memories.dev.status import scrape

        return scrape(f"http://127.0.0.1:{self.sidecar_ops_port}/readyz") != ""

    def _traffic(self) -> None:
        """A client with a skewed key popularity, so the sidecar's hit rate is worth looking at."""
        import random

        import redis

        client = redis.Redis(host="127.0.0.1", port=self.sidecar_resp_port, socket_timeout=2)
        chooser = random.Random(7)
        while not self._stop_traffic.wait(0.01):
            key = f"tile:{int(chooser.paretovariate(1.2)) % 500}"
            with contextlib.suppress(redis.RedisError):
                if client.get(key) is None:
                    client.set(key, os.urandom(256), ex=300)

    @staticmethod
    def _wait_until(probe: Callable[[], bool], what: str, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not probe():
            if time.monotonic() > deadline:
                raise MemoriesError(f"timed out after {timeout_seconds:.0f}s waiting for {what}")
            time.sleep(0.5)

    def policies(self) -> dict[str, Any]:
        """``kubectl get cachepolicies -A -o json``, parsed."""
        assert self.kubectl is not None
        return dict(json.loads(checked(self.kubectl, "get", "cachepolicies", "-A", "-o", "json")))

    def close(self) -> None:
        """Stop everything that was started, newest first."""
        self._stack.close()

    def __enter__(self) -> DevSystem:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def running_system(workdir: Path, kubeconfig: Path | None, node_mode: str = "auto") -> Iterator[DevSystem]:
    """The system, up for the duration of the ``with`` block."""
    with DevSystem(workdir, kubeconfig, node_mode) as system:
        yield system
