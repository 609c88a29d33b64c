"""CachePolicy: which pods get the agent, and the cache it runs for them.

The spec reuses the agent's cache settings (:mod:`memories.sidecar.config.cache`) wherever they mean the same,
so the operator's rendering copies them without naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from memories.operator.api.common import Condition, LabelSelector, ResourceRequirements, conditions_of
from memories.operator.api.l2_volume import L2_VOLUME_DOC, L2Volume
from memories.settings import Rule, exactly_one_of, fields_set, like, section, setting
from memories.settings.cel import size_in_bytes
from memories.settings.kinds import (
    AbsolutePath,
    Boolean,
    Choice,
    Integer,
    KeyRef,
    KeyReference,
    NameRef,
    ObjectReference,
    Text,
)
from memories.settings.parse import CUSTOM_RESOURCE, parse_section
from memories.sidecar.config.cache import (
    L3_PASSWORD_ENV,
    L3_TLS_CA_ENV,
    L3_URL_ENV,
    L3_USERNAME_ENV,
    CacheConfig,
    L3Settings,
    L3Tls,
)
from memories.sidecar.config.server import LimitsConfig

ROLLOUT_MODES = ("Automatic", "Manual")
#: How a change of only the agent's image reaches running pods: like any other change (Rollout), or by patching
#: the injected container's image in place (InPlace: only the agent restarts; the app and L2 on its volume stay).
UPGRADE_MODES = ("Rollout", "InPlace")
#: Where the disk tier's volume is mounted in the agent when the policy does not say (tiers.l2Path).
L2_DEFAULT_MOUNT_PATH = "/var/cache/memories"


@section
class L3TierTls:
    """TLS to the policy's Redis, with the CA bundle from a Secret."""

    server_name: str | None = like(L3Tls, "server_name")
    ca_secret_ref: KeyReference | None = setting(
        KeyRef("Secret", key_doc="Key inside the Secret.", key_default="ca.crt", env=L3_TLS_CA_ENV),
        doc="The Secret key holding the PEM certificates of the CAs that signed Redis' certificate; omit to trust "
        "the system's CAs.",
        default=None,
    )


@section
class L3TierAuth:
    """Redis ACL credentials from Secrets (for example one of type kubernetes.io/basic-auth)."""

    username_secret_ref: KeyReference | None = setting(
        KeyRef("Secret", key_doc="Key inside the Secret.", key_default="username", env=L3_USERNAME_ENV),
        doc="The Secret key holding the ACL user name; omit for Redis' default user.",
        default=None,
    )
    password_secret_ref: KeyReference = setting(
        KeyRef("Secret", key_doc="Key inside the Secret.", key_default="password", env=L3_PASSWORD_ENV),
        doc="The Secret key holding the user's password.",
    )


@section
class L3Tier(L3Settings):
    """The CachePolicy's L3: the agent's L3 settings, with Secrets instead of the URL and credentials."""

    secret_ref: KeyReference = setting(
        KeyRef("Secret", key_doc="Key inside the Secret.", key_default="url", env=L3_URL_ENV),
        doc="The Secret key holding the Redis URL: redis://[user:password@]host:port/db, rediss:// for TLS; in "
        "cluster mode one or more seed nodes (host1:port1,host2:port2), in sentinel mode the Sentinels.",
    )
    key_prefix: str | None = setting(
        Text(min_length=1, max_length=256),
        doc="Prefix of this policy's keys in Redis, under which its agents invalidate each other's copies; omit for "
        "memories:<namespace>/<policy>: (policies sharing a prefix share their keys).",
        default=None,
    )
    tls: L3TierTls | None = setting(doc="TLS to Redis; absent = TLS only for a rediss:// URL.", default=None)
    auth: L3TierAuth | None = setting(
        doc="ACL credentials from Secrets; absent = those of the URL, if any.", default=None
    )


def l2_directory(mount_path: str) -> str:
    """The disk tier's directory below the mount path of its emptyDir (which keeps the dedup store beside it)."""
    return f"{mount_path}/l2"


def _l2_path_has_a_size(tiers: CacheTiers) -> bool:
    # As CEL's has(): a given l2Size counts even when it is 0 (parsed to None, "off").
    return tiers.l2_path is None or "l2_size" in fields_set(tiers)


@section(
    rules=(
        Rule(
            "l1Size must be greater than zero (the in-memory tier cannot be turned off)",
            cel=f"{size_in_bytes('self.l1Size')} > 0.0",
            field=".l1Size",
            reason="FieldValueInvalid",
        ),
        Rule(
            "l2Path requires l2Size (the disk tier is off without a size)",
            cel="!has(self.l2Path) || has(self.l2Size)",
            check=_l2_path_has_a_size,
            field=".l2Path",
            reason="FieldValueRequired",
        ),
        Rule(
            "l2Size must be at least l1Size (or 0 to turn the disk tier off); the disk tier holds what memory evicts",
            cel=f"!has(self.l2Size) || {size_in_bytes('self.l2Size')} == 0.0 || "
            f"{size_in_bytes('self.l2Size')} >= {size_in_bytes('self.l1Size')}",
            check=lambda tiers: not tiers.l2_size or tiers.l2_size >= tiers.l1_size,
            field=".l2Size",
            reason="FieldValueInvalid",
        ),
        Rule(
            "l2Volume requires l2Size (the disk tier is off without a size)",
            cel=f"!has(self.l2Volume) || (has(self.l2Size) && {size_in_bytes('self.l2Size')} > 0.0)",
            check=lambda tiers: tiers.l2_volume is None or bool(tiers.l2_size),
            field=".l2Volume",
            reason="FieldValueRequired",
        ),
    )
)
class CacheTiers:
    """Cache tiers of each sidecar."""

    l1_size: int = like(
        CacheConfig,
        "l1_size",
        doc="In-memory (L1) tier per pod, e.g. 256Mi. Counts against the sidecar's memory limit, which the "
        "operator sets to at least this plus overhead.",
    )
    l2_size: int | None = like(
        CacheConfig, "l2_size", doc="On-disk (L2) tier per pod, e.g. 10Gi; omit or 0 for no disk tier."
    )
    l2_path: str | None = setting(
        AbsolutePath(),
        doc="Directory of the disk tier inside the sidecar; omit to use an emptyDir the operator mounts at "
        f"{L2_DEFAULT_MOUNT_PATH}. Requires l2Size.",
        default=None,
    )
    l2_volume: L2Volume | None = setting(doc=L2_VOLUME_DOC, default=None)
    l3: L3Tier | None = setting(
        doc="Shared Redis (L3) tier; its URL comes from a Secret so it never appears in a ConfigMap.", default=None
    )

    @property
    def l2_mount_path(self) -> str:
        """Where the disk tier's emptyDir is mounted in the agent (it also holds the dedup store)."""
        return self.l2_path or L2_DEFAULT_MOUNT_PATH

    @property
    def l2_directory(self) -> str:
        """The disk tier's directory in the agent, where ``l2Volume`` is mounted when there is one."""
        return l2_directory(self.l2_mount_path)


@section(rules=(exactly_one_of("config_map", "volume_path", "model takes exactly one of configMap or volumePath"),))
class PrefetchModel:
    """Where the agent reads the ONNX model."""

    config_map: KeyReference | None = setting(
        KeyRef("ConfigMap", key_doc="Key of the model inside the ConfigMap."),
        doc="A ConfigMap key (binaryData) holding the model file, mounted read-only.",
        default=None,
    )
    volume_path: str | None = setting(
        AbsolutePath(), doc="Absolute path of the model file on a volume the pod already mounts.", default=None
    )


@section(
    rules=(
        Rule(
            "prefetch.enabled requires prefetch.model (a configMap or a volumePath)",
            cel="!self.enabled || has(self.model)",
            check=lambda prefetch: not prefetch.enabled or prefetch.model is not None,
            field=".model",
            reason="FieldValueRequired",
        ),
    )
)
class PrefetchSpec:
    """Predictive prefetch: on when enabled, with a model from a ConfigMap key or a volume path."""

    enabled: bool = setting(Boolean(), doc="Turn prefetching on.", default=False)
    model: PrefetchModel | None = setting(
        doc="Where the sidecar reads the ONNX model; set exactly one of configMap or volumePath.", default=None
    )


@section
class SidecarSpec:
    """The injected sidecar container."""

    image: str | None = setting(
        Text(max_length=512),
        doc="Container image of the sidecar; omit for the operator's default image.",
        default=None,
    )
    resources: ResourceRequirements = setting(
        doc="Compute resources of the sidecar container (the core ResourceRequirements). The memory limit is "
        "raised to l1Size plus overhead when set lower.",
        default={},
    )
    limits: LimitsConfig | None = setting(
        doc="Request limits of the agent (its config's server.limits). A running agent applies a change on its "
        "next config reload, without a restart; omit for the agent's defaults.",
        default=None,
    )


@section(doc="Desired cache for the selected pods.")
class CachePolicySpec:
    """``CachePolicy.spec``: which pods, which tiers, which profile and pool. Sizes in bytes, durations in seconds."""

    selector: LabelSelector = setting(
        doc="Label selector of the pods (in this namespace) that get the sidecar. It must not be empty: an empty "
        "selector would match every opted-in pod of the namespace.",
    )
    tiers: CacheTiers = setting(
        doc="Cache tiers of each sidecar. Sizes are bytes or a number with a unit: Ki, Mi, Gi, Ti, or KB, MB, GB, "
        "TB (1024-based, like the sidecar's config file).",
    )
    eviction_policy: str = like(CacheConfig, "eviction_policy")
    default_ttl: float | None = like(CacheConfig, "default_ttl")
    prefetch: PrefetchSpec = setting(
        doc="Predictive prefetch of keys the workload is likely to read next, driven by an ONNX model.", default={}
    )
    sidecar: SidecarSpec = setting(doc="The injected sidecar container.", default={})
    compression_profile_ref: ObjectReference | None = setting(
        NameRef("CompressionProfile"),
        doc="The CompressionProfile (same namespace) the sidecar uses; omit for lz4 defaults.",
        default=None,
    )
    memory_pool_ref: ObjectReference | None = setting(
        NameRef("MemoryPool"),
        doc="The MemoryPool (same namespace) the sidecar serves to the workload; omit for none.",
        default=None,
    )
    rollout: str = setting(
        Choice(ROLLOUT_MODES),
        doc="What happens when a change needs new pods: Automatic restarts the owning Deployments and "
        "StatefulSets; Manual only sets the RolloutRequired condition.",
        default="Manual",
    )
    upgrade: str = setting(
        Choice(UPGRADE_MODES),
        doc="What happens when only the sidecar's image changes: Rollout treats it like any change that needs new "
        "pods (see rollout); InPlace patches the image of the running pods' sidecar container, so only the "
        "sidecar restarts, the application containers keep running and L2 stays warm on its volume.",
        default="Rollout",
    )


@section
class PolicyCondition(Condition):
    """A condition of a CachePolicy."""

    type: str = like(Condition, "type", doc="Kind of condition, in CamelCase (Ready, Degraded, RolloutRequired).")


@section(doc="Observed state, written by the operator.")
class CachePolicyStatus:
    """``CachePolicy.status`` as the operator writes it."""

    observed_generation: int | None = setting(
        Integer(format="int64"), doc="The metadata.generation this status describes.", default=None
    )
    matched_pods: int | None = setting(
        Integer(format="int32"), doc="Pods in the namespace the selector matches.", default=None
    )
    injected_pods: int | None = setting(Integer(format="int32"), doc="Matched pods that run the sidecar.", default=None)
    missed_pods: int | None = setting(
        Integer(format="int32"),
        doc="Matched pods that opted in but run without the sidecar (created while the webhook was down, with "
        "failurePolicy Ignore); recreate them to inject.",
        default=None,
    )
    config_map: str | None = setting(
        Text(), doc="The owned ConfigMap holding the rendered sidecar config.", default=None
    )
    config_hash: str | None = setting(
        Text(),
        doc="Hash of the rendered config; pods annotated with another hash run an older config.",
        default=None,
    )
    conditions: tuple[PolicyCondition, ...] | None = setting(
        conditions_of(PolicyCondition),
        doc="Current conditions of the policy (Ready, Degraded, RolloutRequired).",
        default=None,
    )


def parse_cache_policy(spec: Mapping[str, Any]) -> CachePolicySpec:
    """Parse a CachePolicy spec as the API server stores it (its defaults applied).

    Raises ConfigError naming the field (e.g. ``spec.tiers.l1Size``), also for every rule the API server checks.
    """
    return parse_section(CachePolicySpec, spec, "spec", CUSTOM_RESOURCE)
