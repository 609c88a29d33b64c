"""The L3Reachable condition, computed against real Redis deployments from Secrets as the operator reads them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from memories.local_processes import free_port
from memories.operator.api import parse_cache_policy
from memories.operator.l3_probe import l3_condition, secret_reader
from tests.redis_servers import redis_cluster, redis_server


def tiers_l3(l3: dict[str, Any]) -> Any:
    spec = parse_cache_policy({"selector": {"matchLabels": {"app": "web"}}, "tiers": {"l1Size": "64Mi", "l3": l3}})
    assert spec.tiers.l3 is not None
    return spec.tiers.l3


def secrets(**by_name: dict[str, str]) -> Any:
    encoded = {name: {key: base64.b64encode(value.encode()).decode() for key, value in data.items()} for name, data in by_name.items()}  # fmt: skip
    return secret_reader(encoded.get)


def test_a_reachable_redis_with_acl_credentials_and_a_tls_ca(tmp_path: Path) -> None:
    with redis_server(tmp_path / "tls", tls=True) as server:
        assert server.tls is not None
        server.client().execute_command("ACL", "SETUSER", "agent", "on", ">pw", "~*", "+@all")
        l3 = tiers_l3(
            {
                "secretRef": {"name": "redis"},
                "auth": {"usernameSecretRef": {"name": "acl"}, "passwordSecretRef": {"name": "acl"}},
                "tls": {"caSecretRef": {"name": "ca"}},
            }
        )
        read = secrets(
            redis={"url": server.url},
            acl={"username": "agent", "password": "pw"},
            ca={"ca.crt": server.tls.ca_file.read_text()},
        )
        condition = l3_condition(l3, read)
        assert (condition.status, condition.reason) == (True, "Reachable"), condition.message
        wrong = secrets(redis={"url": server.url}, acl={"username": "agent", "password": "no"}, ca={"ca.crt": server.tls.ca_file.read_text()})  # fmt: skip
        refused = l3_condition(l3, wrong)
        assert (refused.status, refused.reason) == (
            False,
            "Unreachable",
        ) and "refused the credentials" in refused.message


def test_nothing_listening_names_the_address() -> None:
    port = free_port()
    condition = l3_condition(
        tiers_l3({"secretRef": {"name": "redis"}, "timeout": "300ms"}),
        secrets(redis={"url": f"redis://127.0.0.1:{port}"}),
    )
    assert condition.status is False and condition.reason == "Unreachable" and f"127.0.0.1:{port}" in condition.message


def test_missing_secrets_and_malformed_urls_are_reported() -> None:
    l3 = tiers_l3({"secretRef": {"name": "redis"}})
    assert l3_condition(l3, secrets()).reason == "SecretNotFound"
    assert "has no key url" in l3_condition(l3, secrets(redis={"address": "x"})).message
    invalid = l3_condition(l3, secrets(redis={"url": "http://redis"}))
    assert invalid.reason == "InvalidSecret" and "redis://" in invalid.message


def test_every_cluster_master_is_pinged(tmp_path: Path) -> None:
    with redis_cluster(tmp_path / "cluster") as cluster:
        condition = l3_condition(
            tiers_l3({"secretRef": {"name": "redis"}, "mode": "cluster"}), secrets(redis={"url": cluster.url})
        )
        assert condition.status is True
        assert all(f"127.0.0.1:{node.port}" in condition.message for node in cluster.nodes)
