"""Self-contained kubeconfig files (certificates embedded) for the admin, the kubelet and other local clients."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from memories.controlplane.certificates import KeyPair


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_kubeconfig(path: Path, *, server_url: str, ca_pem: bytes, client: KeyPair, user: str) -> Path:
    """Write a kubeconfig for ``user`` authenticating with ``client`` at ``server_url`` (mode 0600)."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "memories-local", "cluster": {"server": server_url, "certificate-authority-data": _base64(ca_pem)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _base64(client.certificate_pem),
                    "client-key-data": _base64(client.private_key_pem),
                },
            }
        ],
        "contexts": [{"name": "memories-local", "context": {"cluster": "memories-local", "user": user}}],
        "current-context": "memories-local",
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path
