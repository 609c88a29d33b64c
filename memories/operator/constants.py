"""Names shared by the operator, the webhook, the CRDs and the Helm chart."""

from __future__ import annotations

GROUP = "optimization.memories.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

CACHE_POLICY_PLURAL = "cachepolicies"
MEMORY_POOL_PLURAL = "memorypools"
COMPRESSION_PROFILE_PLURAL = "compressionprofiles"

#: Our own finalizer: never kopf's default, so two operators never share one.
FINALIZER = f"{GROUP}/finalizer"

#: A pod opts in to injection with this label set to "enabled"; it becomes the webhook's objectSelector.
INJECT_LABEL = "memories.dev/inject"
INJECT_ENABLED = "enabled"
#: A namespace opts out with this label set to "disabled".
NAMESPACE_OPT_OUT_LABEL = "memories.dev/injection"
#: Stamped on injected pods: the policy that injected them and the digest of the pod-spec changes made,
#: so the operator can tell which pods predate a change that needs a new pod (sizes, image, volumes).
INJECTED_ANNOTATION = "memories.dev/injected-by"
POD_SPEC_HASH_ANNOTATION = "memories.dev/pod-spec-hash"
#: The same digest with the agent's image left out: equal on a pod and its policy when only the image changed,
#: which is what an in-place upgrade (``upgrade: InPlace``) may fix without a new pod.
POD_SPEC_BASE_HASH_ANNOTATION = "memories.dev/pod-spec-hash-except-image"
#: Labels on owned objects.
POLICY_LABEL = "memories.dev/cache-policy"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "memories-operator"

SIDECAR_CONTAINER_NAME = "memories-agent"
CONFIG_VOLUME = "memories-config"
SHM_VOLUME = "memories-shm"
L2_VOLUME = "memories-l2"
#: A CachePolicy's tiers.l2Volume (a PersistentVolumeClaim or a hostPath), mounted over the disk tier's directory.
L2_PERSISTENT_VOLUME = "memories-l2-persistent"
MODEL_VOLUME = "memories-model"

CONFIG_MOUNT_PATH = "/etc/memories"
CONFIG_FILE_NAME = "sidecar.yaml"
SHM_MOUNT_PATH = "/dev/shm/memories"
MODEL_MOUNT_PATH = "/var/lib/memories/model"

RESP_PORT = 6380
HTTP_PORT = 8750
OPS_PORT = 9750

#: Namespaces the webhook never touches, whatever the labels say.
PROTECTED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})

DEFAULT_IMAGE = "ghcr.io/memories-dev/memories-optimizer:0.1.0"


def config_map_name(policy_name: str) -> str:
    """Name of the ConfigMap that holds a CachePolicy's rendered sidecar config."""
    return f"memories-{policy_name}-config"
