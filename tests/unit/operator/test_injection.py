"""The pod patch: native or plain sidecar, volumes, resources, security, idempotency."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from memories.operator import constants
from memories.operator.api import parse_cache_policy, parse_memory_pool
from memories.operator.injection import AGENT_OVERHEAD_BYTES, apply_injection, plan_digest, plan_for
from memories.operator.render import render_sidecar_config

POLICY = parse_cache_policy(
    {"selector": {"matchLabels": {"app": "web"}}, "tiers": {"l1Size": "128Mi", "l2Size": "1Gi"}}
)
POOL = parse_memory_pool({"blockSizes": [4096, 65536], "totalSize": "256Mi", "shared": True})


def pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "labels": {"app": "web", constants.INJECT_LABEL: "enabled"}},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }


def test_native_sidecar_on_new_servers() -> None:
    target = pod()
    assert apply_injection(target, plan_for("web", POLICY, POOL, server_minor_version=35))
    agent = target["spec"]["initContainers"][0]
    assert agent["name"] == constants.SIDECAR_CONTAINER_NAME
    assert agent["restartPolicy"] == "Always"
    assert agent["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert [container["name"] for container in target["spec"]["containers"]] == ["app"]


def test_plain_sidecar_with_prestop_on_old_servers() -> None:
    target = pod()
    apply_injection(target, plan_for("web", POLICY, POOL, server_minor_version=28))
    agent = target["spec"]["containers"][-1]
    assert "restartPolicy" not in agent
    assert agent["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert "initContainers" not in target["spec"]


def test_memory_limit_covers_l1_plus_overhead() -> None:
    target = pod()
    apply_injection(target, plan_for("web", POLICY, None, server_minor_version=35))
    limit = target["spec"]["initContainers"][0]["resources"]["limits"]["memory"]
    assert int(limit.removesuffix("Mi")) * 1024**2 >= POLICY.tiers.l1_size + AGENT_OVERHEAD_BYTES


def test_shared_memory_volume_is_memory_backed_and_sized() -> None:
    target = pod()
    apply_injection(target, plan_for("web", POLICY, POOL, server_minor_version=35))
    volumes = {volume["name"]: volume for volume in target["spec"]["volumes"]}
    assert volumes[constants.SHM_VOLUME]["emptyDir"] == {"medium": "Memory", "sizeLimit": "256Mi"}
    assert volumes[constants.CONFIG_VOLUME]["configMap"]["name"] == "memories-web-config"
    app_mounts = target["spec"]["containers"][0]["volumeMounts"]
    assert {"name": constants.SHM_VOLUME, "mountPath": constants.SHM_MOUNT_PATH} in app_mounts


def test_security_context_is_restricted() -> None:
    target = pod()
    apply_injection(target, plan_for("web", POLICY, POOL, server_minor_version=35))
    context = target["spec"]["initContainers"][0]["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["allowPrivilegeEscalation"] is False


def test_second_injection_changes_nothing() -> None:
    target = pod()
    plan = plan_for("web", POLICY, POOL, server_minor_version=35)
    apply_injection(target, plan)
    once = copy.deepcopy(target)
    assert not apply_injection(target, plan)
    assert target == once


def test_pod_with_agent_as_plain_container_is_not_injected_again() -> None:
    target = pod()
    target["spec"]["containers"].append({"name": constants.SIDECAR_CONTAINER_NAME, "image": "x"})
    assert not apply_injection(target, plan_for("web", POLICY, POOL, server_minor_version=35))
    assert "initContainers" not in target["spec"]


def test_l3_url_comes_from_the_secret() -> None:
    policy = parse_cache_policy(
        {"selector": {"matchLabels": {"a": "b"}}, "tiers": {"l3": {"secretRef": {"name": "redis", "key": "url"}}}}
    )
    target = pod()
    apply_injection(target, plan_for("web", policy, None, server_minor_version=35))
    env = target["spec"]["initContainers"][0]["env"]
    assert env == [{"name": "MEMORIES_L3_URL", "valueFrom": {"secretKeyRef": {"name": "redis", "key": "url"}}}]


def test_policy_resources_cannot_lower_the_memory_limit_below_l1() -> None:
    policy = parse_cache_policy(
        {
            "selector": {"matchLabels": {"a": "b"}},
            "tiers": {"l1Size": "512Mi"},
            "sidecar": {"resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "128Mi"}}},
        }
    )
    target = pod()
    apply_injection(target, plan_for("web", policy, None, server_minor_version=35))
    resources = target["spec"]["initContainers"][0]["resources"]
    assert resources["requests"]["cpu"] == "100m"
    assert resources["limits"]["memory"] == "608Mi"


def test_l2_volume_is_mounted_where_the_policy_puts_the_disk_tier() -> None:
    policy = parse_cache_policy(
        {
            "selector": {"matchLabels": {"a": "b"}},
            "tiers": {"l1Size": "64Mi", "l2Size": "1Gi", "l2Path": "/data/cache/"},
        }
    )
    target = pod()
    apply_injection(target, plan_for("web", policy, None, server_minor_version=35))
    mounts = {mount["name"]: mount["mountPath"] for mount in target["spec"]["initContainers"][0]["volumeMounts"]}
    assert mounts[constants.L2_VOLUME] == "/data/cache"
    assert render_sidecar_config(policy)["cache"]["l2Path"] == "/data/cache/l2"


def persistent_policy(volume: dict[str, object]) -> Any:
    return parse_cache_policy(
        {"selector": {"matchLabels": {"a": "b"}}, "tiers": {"l1Size": "64Mi", "l2Size": "1Gi", "l2Volume": volume}}
    )


def test_a_claim_is_mounted_over_the_disk_tiers_directory_beside_the_emptydir() -> None:
    target = pod()
    plan = plan_for(
        "web", persistent_policy({"persistentVolumeClaim": {"claimName": "cache"}}), None, server_minor_version=35
    )
    apply_injection(target, plan)
    volumes = {volume["name"]: volume for volume in target["spec"]["volumes"]}
    assert volumes[constants.L2_PERSISTENT_VOLUME] == {
        "name": constants.L2_PERSISTENT_VOLUME,
        "persistentVolumeClaim": {"claimName": "cache"},
    }
    assert "emptyDir" in volumes[constants.L2_VOLUME]  # the dedup store stays per pod
    mounts = {mount["name"]: mount["mountPath"] for mount in target["spec"]["initContainers"][0]["volumeMounts"]}
    assert mounts[constants.L2_VOLUME] == "/var/cache/memories"
    assert mounts[constants.L2_PERSISTENT_VOLUME] == "/var/cache/memories/l2"
    assert "subPath" not in str(target["spec"]["initContainers"][0]["volumeMounts"])  # kubelet would own it


def test_a_host_path_must_exist_on_the_node() -> None:
    target = pod()
    apply_injection(
        target,
        plan_for("web", persistent_policy({"hostPath": {"path": "/srv/memories/"}}), None, server_minor_version=35),
    )
    [volume] = [volume for volume in target["spec"]["volumes"] if volume["name"] == constants.L2_PERSISTENT_VOLUME]
    assert volume["hostPath"] == {"path": "/srv/memories", "type": "Directory"}


def test_the_config_tells_the_agents_to_share_the_policys_directory_by_slots() -> None:
    policy = persistent_policy({"persistentVolumeClaim": {"claimName": "cache"}})
    cache = render_sidecar_config(policy, owner="shop/web")["cache"]
    assert (cache["l2Path"], cache["l2Shared"]) == ("/var/cache/memories/l2/shop/web", True)


def test_plans_keep_the_digest_of_pods_injected_by_the_first_release() -> None:
    policy = parse_cache_policy(
        {"selector": {"matchLabels": {"a": "b"}}, "tiers": {"l1Size": "64Mi", "l3": {"secretRef": {"name": "redis"}}}}
    )
    first_release = {  # InjectionPlan's fields in 0.1, for this policy
        "policy_name": "web",
        "image": constants.DEFAULT_IMAGE,
        "native_sidecar": True,
        "l1_size_bytes": 64 * 1024**2,
        "l2_size_bytes": 0,
        "l2_mount_path": "/var/cache/memories",
        "pool_size_bytes": 0,
        "pool_shared": False,
        "l3_secret": {"name": "redis", "key": "url"},
        "model_config_map": None,
        "resources_override": None,
    }
    digest = hashlib.sha256(json.dumps(first_release, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert plan_digest(plan_for("web", policy, None, server_minor_version=35)) == digest[:16]


def test_adding_a_persistent_volume_changes_the_digest() -> None:
    plan = plan_for("web", POLICY, POOL, server_minor_version=35)
    persistent = plan_for("web", persistent_policy({"hostPath": {"path": "/srv"}}), POOL, server_minor_version=35)
    assert plan_digest(persistent) != plan_digest(plan)  # a new volume needs new pods


def test_derived_memory_limit_is_never_below_the_policys_own_request() -> None:
    from memories.operator.api import parse_cache_policy
    from memories.operator.injection import agent_resources, plan_for

    spec = {"selector": {"matchLabels": {"app": "web"}}, "tiers": {"l1Size": "512Mi"},
            "sidecar": {"resources": {"requests": {"memory": "640Mi"}}}}  # fmt: skip
    resources = agent_resources(plan_for("web", parse_cache_policy(spec), None, server_minor_version=35))
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == "640Mi"
