"""Build the sidecar that the admission webhook adds to a pod: a pure function over the pod body.

The same function serves kopf's mutating handler (through a patch transformation, which kopf
turns into a JSONPatch) and the tests, which apply it to plain dicts. It is idempotent: a pod
that already has the agent, in ``containers`` or ``initContainers``, is left as it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from memories.errors import ConfigError
from memories.operator import constants
from memories.operator.api.cache_policy import L2_DEFAULT_MOUNT_PATH, CachePolicySpec, l2_directory
from memories.operator.api.memory_pool import MemoryPoolSpec
from memories.settings.kinds import KeyReference
from memories.settings.write import key_references, write_section
from memories.sidecar.config.cache import L3_URL_ENV
from memories.units import parse_size

#: Memory the agent needs beyond its L1 budget (interpreter, buffers, metrics), in bytes.
AGENT_OVERHEAD_BYTES = 96 * 1024 * 1024
#: The first Kubernetes minor version whose kubelet runs native sidecars (initContainers with restartPolicy Always).
NATIVE_SIDECAR_MINOR = 29
#: Seconds a plain sidecar waits in preStop so the workload drains its requests first.
PRESTOP_DRAIN_SECONDS = 5
_MIB = 1024 * 1024


@dataclass(frozen=True)
class EnvFromKey:
    """An environment variable of the agent filled from a key of a Secret or ConfigMap (a ``KeyRef`` with
    ``env`` in the CRD model)."""

    variable: str
    resource: str
    reference: KeyReference

    def entry(self) -> dict[str, Any]:
        """The container's ``env`` entry."""
        source = "secretKeyRef" if self.resource == "Secret" else "configMapKeyRef"
        return {"name": self.variable, "valueFrom": {source: {"name": self.reference.name, "key": self.reference.key}}}


@dataclass(frozen=True)
class InjectionPlan:
    """Everything the webhook needs to inject the agent for one CachePolicy; sizes in bytes."""

    policy_name: str
    image: str
    native_sidecar: bool
    l1_size_bytes: int
    l2_size_bytes: int = 0
    l2_mount_path: str = L2_DEFAULT_MOUNT_PATH
    pool_size_bytes: int = 0
    pool_shared: bool = False
    model_config_map: str | None = None
    resources_override: dict[str, Any] | None = None
    #: The volume source of tiers.l2Volume (persistentVolumeClaim or hostPath); None keeps L2 on the emptyDir.
    l2_volume: dict[str, Any] | None = None
    #: The agent's variables from Secret and ConfigMap keys, in the CRD model's order (the L3 URL first).
    key_env: tuple[EnvFromKey, ...] = ()
    #: Digest of the rendered config without what a running agent reloads: a change of it needs the agent
    #: restarted, so pods injected with another one are outdated like pods with another spec.
    restart_config_hash: str = ""


def plan_for(
    policy_name: str,
    policy: CachePolicySpec,
    pool: MemoryPoolSpec | None,
    *,
    server_minor_version: int,
    default_image: str = constants.DEFAULT_IMAGE,
    restart_config_hash: str = "",
) -> InjectionPlan:
    """Combine a policy, its pool and the API server's version into an injection plan."""
    tiers = policy.tiers
    model = policy.prefetch.model
    return InjectionPlan(
        policy_name=policy_name,
        image=policy.sidecar.image or default_image,
        native_sidecar=server_minor_version >= NATIVE_SIDECAR_MINOR,
        l1_size_bytes=tiers.l1_size,
        l2_size_bytes=tiers.l2_size or 0,
        l2_mount_path=tiers.l2_mount_path,
        pool_size_bytes=pool.total_size if pool else 0,
        pool_shared=bool(pool and pool.shared),
        model_config_map=model.config_map.name if model and model.config_map else None,
        resources_override=write_section(policy.sidecar.resources) or None,
        l2_volume=tiers.l2_volume.volume_source() if tiers.l2_volume and tiers.l2_size else None,
        key_env=tuple(
            EnvFromKey(kind.env, kind.resource, reference)
            for kind, reference in key_references(policy)
            if kind.env is not None
        ),
        restart_config_hash=restart_config_hash,
    )


def plan_digest(plan: InjectionPlan) -> str:
    """A short, stable digest of everything the plan puts into a pod spec."""
    canonical = json.dumps(_digested_fields(plan), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


def _digested_fields(plan: InjectionPlan) -> dict[str, Any]:
    """The plan as the first operator release laid it out, with what came later only where it is used, so an
    operator upgrade does not mark every pod its predecessor injected as outdated."""
    fields = dataclasses.asdict(plan)
    if fields["l2_volume"] is None:
        del fields["l2_volume"]
    # 0.1 had one variable from a Secret, the L3 URL, as "l3_secret": {name, key}.
    entries = fields.pop("key_env")
    l3_url = [entry["reference"] for entry in entries if entry["variable"] == L3_URL_ENV]
    fields["l3_secret"] = l3_url[0] if l3_url else None
    later = [entry for entry in entries if entry["variable"] != L3_URL_ENV]
    if later:
        fields["key_env"] = later
    if not fields["restart_config_hash"]:
        del fields["restart_config_hash"]
    return fields


def plan_base_digest(plan: InjectionPlan) -> str:
    """:func:`plan_digest` with the image left out (equal when only the agent's image differs)."""
    return plan_digest(dataclasses.replace(plan, image=""))


def agent_location(pod: dict[str, Any]) -> tuple[str, int] | None:
    """Where the agent container is in the pod spec: ("initContainers" or "containers", index), or None."""
    spec = pod.get("spec") or {}
    for field in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(field) or []):
            if container.get("name") == constants.SIDECAR_CONTAINER_NAME:
                return field, index
    return None


def is_injected(pod: dict[str, Any]) -> bool:
    """True when the pod already carries the agent (by container name or by our annotation)."""
    spec = pod.get("spec") or {}
    names = {container.get("name") for key in ("containers", "initContainers") for container in spec.get(key) or []}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return constants.SIDECAR_CONTAINER_NAME in names or constants.INJECTED_ANNOTATION in annotations


def _mebibytes(number_of_bytes: int) -> str:
    return f"{-(-number_of_bytes // _MIB)}Mi"


def _at_least(quantity: object, floor_bytes: int) -> str:
    """``quantity`` unless it parses as fewer bytes than ``floor_bytes`` (then the floor, in Mi)."""
    try:
        below = parse_size(str(quantity)) < floor_bytes
    except ConfigError:
        below = False  # a quantity we cannot compare (e.g. SI "1G") is the user's call
    return _mebibytes(floor_bytes) if below else str(quantity)


def agent_resources(plan: InjectionPlan) -> dict[str, Any]:
    """Requests and limits derived from the sizes, overlaid with the policy's own.

    Whatever the policy says, the memory limit covers L1 plus the agent's overhead: a lower one
    would get the agent OOM-killed as soon as L1 fills.
    """
    floor_bytes = plan.l1_size_bytes + AGENT_OVERHEAD_BYTES
    override = plan.resources_override or {}
    requests = {"cpu": "50m", "memory": _mebibytes(floor_bytes), **(override.get("requests") or {})}
    limits = {"memory": _mebibytes(floor_bytes), **(override.get("limits") or {})}
    if "memory" not in (override.get("limits") or {}):
        # A derived limit below the policy's own request would make every injected pod invalid (found on a real
        # node with the "inference" example: request 640Mi, derived limit 608Mi).
        floor_bytes = max(floor_bytes, _bytes_or_zero(requests["memory"]))
    limits["memory"] = _at_least(limits["memory"], floor_bytes)
    return {"requests": requests, "limits": limits}


def _bytes_or_zero(quantity: object) -> int:
    try:
        return parse_size(str(quantity))
    except ConfigError:
        return 0


def _volume_mounts(plan: InjectionPlan) -> list[dict[str, Any]]:
    mounts = [{"name": constants.CONFIG_VOLUME, "mountPath": constants.CONFIG_MOUNT_PATH, "readOnly": True}]
    if plan.pool_size_bytes:
        mounts.append({"name": constants.SHM_VOLUME, "mountPath": constants.SHM_MOUNT_PATH})
    mounts.append({"name": constants.L2_VOLUME, "mountPath": plan.l2_mount_path})
    if plan.l2_volume is not None:
        mounts.append({"name": constants.L2_PERSISTENT_VOLUME, "mountPath": l2_directory(plan.l2_mount_path)})
    if plan.model_config_map:
        mounts.append({"name": constants.MODEL_VOLUME, "mountPath": constants.MODEL_MOUNT_PATH, "readOnly": True})
    return mounts


def _probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "metrics"}, **timing}


def agent_container(plan: InjectionPlan) -> dict[str, Any]:
    """The agent's container spec (native-sidecar or plain flavour, per the plan)."""
    container: dict[str, Any] = {
        "name": constants.SIDECAR_CONTAINER_NAME,
        "image": plan.image,
        "args": ["sidecar", "--config", f"{constants.CONFIG_MOUNT_PATH}/{constants.CONFIG_FILE_NAME}"],
        "ports": [
            {"name": "resp", "containerPort": constants.RESP_PORT, "protocol": "TCP"},
            {"name": "http-api", "containerPort": constants.HTTP_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": constants.OPS_PORT, "protocol": "TCP"},
        ],
        "resources": agent_resources(plan),
        "volumeMounts": _volume_mounts(plan),
        "readinessProbe": _probe("/readyz", periodSeconds=5),
        "livenessProbe": _probe("/healthz", periodSeconds=10, failureThreshold=3),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if plan.key_env:
        container["env"] = [variable.entry() for variable in plan.key_env]
    if plan.native_sidecar:
        container["restartPolicy"] = "Always"
        container["startupProbe"] = _probe("/readyz", periodSeconds=1, failureThreshold=60)
    else:
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_DRAIN_SECONDS)]}}}
    return container


def agent_volumes(plan: InjectionPlan) -> list[dict[str, Any]]:
    """Config, shared-memory, L2 and model volumes; tmpfs and disk volumes are size-limited."""
    volumes: list[dict[str, Any]] = [
        {
            "name": constants.CONFIG_VOLUME,
            "configMap": {"name": constants.config_map_name(plan.policy_name)},
        }
    ]
    if plan.pool_size_bytes:
        # /dev/shm is only 64 MiB in most runtimes: the arena gets its own memory-backed volume.
        volumes.append(
            {
                "name": constants.SHM_VOLUME,
                "emptyDir": {"medium": "Memory", "sizeLimit": _mebibytes(plan.pool_size_bytes)},
            }
        )
    l2_limit = {"sizeLimit": _mebibytes(plan.l2_size_bytes + plan.l2_size_bytes // 10)} if plan.l2_size_bytes else {}
    volumes.append({"name": constants.L2_VOLUME, "emptyDir": l2_limit})
    if plan.l2_volume is not None:
        volumes.append({"name": constants.L2_PERSISTENT_VOLUME, **plan.l2_volume})
    if plan.model_config_map:
        volumes.append({"name": constants.MODEL_VOLUME, "configMap": {"name": plan.model_config_map}})
    return volumes


def _workload_wiring(container: dict[str, Any], plan: InjectionPlan) -> None:
    """Point an application container at the agent and share the arena with it."""
    env = container.setdefault("env", [])
    present = {variable.get("name") for variable in env}
    for name, value in (
        ("MEMORIES_REDIS_URL", f"redis://127.0.0.1:{constants.RESP_PORT}/0"),
        ("MEMORIES_HTTP_URL", f"http://127.0.0.1:{constants.HTTP_PORT}"),
    ):
        if name not in present:
            env.append({"name": name, "value": value})
    if plan.pool_shared:
        mounts = container.setdefault("volumeMounts", [])
        if not any(mount.get("name") == constants.SHM_VOLUME for mount in mounts):
            mounts.append({"name": constants.SHM_VOLUME, "mountPath": constants.SHM_MOUNT_PATH})


def apply_injection(pod: dict[str, Any], plan: InjectionPlan) -> bool:
    """Add the agent to ``pod`` in place; returns False (and changes nothing) if it is already there."""
    if is_injected(pod):
        return False
    spec = pod.setdefault("spec", {})
    for container in spec.get("containers") or []:
        _workload_wiring(container, plan)
    if plan.native_sidecar:
        spec["initContainers"] = [agent_container(plan), *(spec.get("initContainers") or [])]
    else:
        spec["containers"] = [*(spec.get("containers") or []), agent_container(plan)]
    spec["volumes"] = [*(spec.get("volumes") or []), *agent_volumes(plan)]
    annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.update(
        {
            constants.INJECTED_ANNOTATION: plan.policy_name,
            constants.POD_SPEC_HASH_ANNOTATION: plan_digest(plan),
            constants.POD_SPEC_BASE_HASH_ANNOTATION: plan_base_digest(plan),
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(constants.OPS_PORT),
            "prometheus.io/path": "/metrics",
        }
    )
    return True
