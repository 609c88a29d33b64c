"""The MutatingWebhookConfiguration that routes pod creations to the operator.

The Helm chart templates the same object; this function builds it for the test fixtures and
``memories dev``, where the operator runs on the host and is reached by URL.
"""

from __future__ import annotations

import base64
from typing import Any

from memories.operator import constants

WEBHOOK_NAME = "inject.memories.dev"
#: kopf serves each admission handler at ``/<handler id>``.
WEBHOOK_PATH = "/inject-sidecar"


def mutating_webhook_configuration(
    *,
    ca_bundle_pem: bytes,
    operator_namespace: str,
    url: str | None = None,
    service: tuple[str, str, int] | None = None,
    failure_policy: str = "Ignore",
    timeout_seconds: int = 5,
) -> dict[str, Any]:
    """Build the configuration, reaching the webhook at ``url`` or at ``service`` (namespace, name, port)."""
    if (url is None) == (service is None):
        raise ValueError("give exactly one of url or service")
    client_config: dict[str, Any] = {"caBundle": base64.b64encode(ca_bundle_pem).decode()}
    if url is not None:
        client_config["url"] = url.rstrip("/") + WEBHOOK_PATH
    elif service is not None:
        namespace, name, port = service
        client_config["service"] = {"namespace": namespace, "name": name, "port": port, "path": WEBHOOK_PATH}
    excluded = sorted({*constants.PROTECTED_NAMESPACES, operator_namespace})
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "memories-optimizer", "labels": {constants.MANAGED_BY_LABEL: constants.MANAGED_BY_VALUE}},
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": failure_policy,
                "reinvocationPolicy": "IfNeeded",
                "timeoutSeconds": timeout_seconds,
                "clientConfig": client_config,
                "objectSelector": {"matchLabels": {constants.INJECT_LABEL: constants.INJECT_ENABLED}},
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded},
                        {"key": constants.NAMESPACE_OPT_OUT_LABEL, "operator": "NotIn", "values": ["disabled"]},
                    ]
                },
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
            }
        ],
    }
