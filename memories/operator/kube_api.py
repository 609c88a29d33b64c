"""The few Kubernetes API calls the operator makes itself (kopf patches the handled object).

Synchronous, on the official client: kopf runs sync handlers in its thread pool.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from memories.operator import constants
from memories.operator.selectors import raw_selector_matches

logger = logging.getLogger(__name__)


@cache
def _api_client() -> Any:
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    return kubernetes.client.ApiClient()


def core() -> Any:
    """The CoreV1 API on the operator's credentials (in-cluster, else the kubeconfig)."""
    return kubernetes.client.CoreV1Api(_api_client())


def secret_data(namespace: str, name: str) -> dict[str, str] | None:
    """A Secret's ``data`` (base64 values), or None when there is no such Secret."""
    try:
        secret = core().read_namespaced_secret(name, namespace)
    except kubernetes.client.exceptions.ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict(secret.data or {})


def server_minor_version() -> int:
    """The API server's minor version (e.g. 35 for v1.35.4)."""
    info = kubernetes.client.VersionApi(_api_client()).get_code()
    return int("".join(character for character in info.minor if character.isdigit()))


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to a custom resource, so owned objects are garbage-collected with it."""
    metadata = body["metadata"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def apply_config_map(
    namespace: str, name: str, data: Mapping[str, str], owner: Mapping[str, Any], annotations: Mapping[str, str]
) -> bool:
    """Create or update a ConfigMap owned by ``owner``; returns True when anything changed."""
    api = core()
    labels = {constants.MANAGED_BY_LABEL: constants.MANAGED_BY_VALUE, constants.POLICY_LABEL: owner["metadata"]["name"]}
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": dict(annotations),
            "ownerReferences": [owner_reference(owner)],
        },
        "data": dict(data),
    }
    try:
        existing = api.read_namespaced_config_map(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        try:
            api.create_namespaced_config_map(namespace, manifest)
            return True
        except ApiException as conflict:
            if conflict.status != 409:  # created meanwhile by a concurrent reconcile: update it instead
                raise
            existing = api.read_namespaced_config_map(name, namespace)
    if existing.data == dict(data) and (existing.metadata.annotations or {}) == dict(annotations):
        return False
    api.patch_namespaced_config_map(name, namespace, manifest)
    return True


def delete_config_map(namespace: str, name: str) -> None:
    """Delete a ConfigMap; absent is fine."""
    try:
        core().delete_namespaced_config_map(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise


def patch_status(plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """Merge-patch the status subresource of one of our objects; one deleted meanwhile is ignored."""
    api = kubernetes.client.CustomObjectsApi(_api_client())
    try:
        api.patch_namespaced_custom_object_status(
            constants.GROUP, constants.VERSION, namespace, plural, name, {"status": dict(status)}
        )
    except ApiException as error:
        if error.status != 404:
            raise


def upgrade_agent_in_place(namespace: str, pod: str, location: tuple[str, int], image: str, pod_spec_hash: str) -> bool:
    """Patch the image of a running pod's agent container (the kubelet restarts only that container) and stamp
    the pod with the new pod-spec digest; returns False when the pod is gone or its agent moved meanwhile.

    A JSON patch whose ``test`` operation checks the container's name first, so a concurrent change never
    gets another container's image replaced.
    """
    field, index = location
    annotation = constants.POD_SPEC_HASH_ANNOTATION.replace("~", "~0").replace("/", "~1")
    patch = [
        {"op": "test", "path": f"/spec/{field}/{index}/name", "value": constants.SIDECAR_CONTAINER_NAME},
        {"op": "replace", "path": f"/spec/{field}/{index}/image", "value": image},
        {"op": "replace", "path": f"/metadata/annotations/{annotation}", "value": pod_spec_hash},
    ]
    try:
        core().patch_namespaced_pod(pod, namespace, patch)
    except ApiException as error:
        if error.status in (404, 409, 422):
            logger.warning("in-place upgrade of %s/%s skipped: %s", namespace, pod, error.reason)
            return False
        raise
    logger.info("agent of %s/%s upgraded in place to %s", namespace, pod, image)
    return True


#: Annotation on a workload's pod template, set when the operator rolls it.
RESTARTED_AT_ANNOTATION = "memories.dev/restarted-at"
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _rolled_recently(template_annotations: Mapping[str, str], now: datetime.datetime, cooldown_seconds: float) -> bool:
    stamp = template_annotations.get(RESTARTED_AT_ANNOTATION)
    if stamp is None:
        return False
    try:
        rolled = datetime.datetime.strptime(stamp, _TIMESTAMP_FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError:
        return False
    return (now - rolled).total_seconds() < cooldown_seconds


def restart_workloads(
    namespace: str, selector: Mapping[str, Any], reason: str, *, cooldown_seconds: float = 300.0
) -> list[str]:
    """Roll Deployments and StatefulSets whose pod template the selector matches; returns their names.

    A workload rolled less than ``cooldown_seconds`` ago is left alone, so a rollout in progress is
    never restarted again by the next resync.
    """
    apps = kubernetes.client.AppsV1Api(_api_client())
    now = datetime.datetime.now(datetime.UTC)
    patch = {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now.strftime(_TIMESTAMP_FORMAT)}}}}
    }
    restarted = []
    for kind, lister, patcher in (
        ("Deployment", apps.list_namespaced_deployment, apps.patch_namespaced_deployment),
        ("StatefulSet", apps.list_namespaced_stateful_set, apps.patch_namespaced_stateful_set),
    ):
        for workload in lister(namespace).to_dict()["items"]:
            name = workload["metadata"]["name"]
            template = workload["spec"]["template"]["metadata"]
            if not raw_selector_matches(selector, template.get("labels") or {}):
                continue
            if _rolled_recently(template.get("annotations") or {}, now, cooldown_seconds):
                continue
            patcher(name, namespace, patch)
            restarted.append(f"{kind}/{name}")
            logger.info("rolled %s %s/%s: %s", kind, namespace, name, reason)
    return restarted
