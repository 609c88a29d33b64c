"""A config file mounted the way the kubelet mounts a ConfigMap volume, and its atomic updates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def configmap_volume(root: Path, document: dict[str, Any]) -> Path:
    """Lay out a volume like the kubelet: ``..2024_x/config.yaml``, ``..data -> ..2024_x``, ``config.yaml -> ..data/config.yaml``."""
    root.mkdir(exist_ok=True)
    swap_configmap(root, document, "..v1")
    (root / "config.yaml").symlink_to("..data/config.yaml")
    return root / "config.yaml"


def swap_configmap(root: Path, document: dict[str, Any] | str, version: str) -> None:
    """Write a new timestamped directory holding ``document`` (a str as it is: e.g. invalid YAML) and atomically
    repoint ``..data`` at it."""
    (root / version).mkdir()
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    (root / version / "config.yaml").write_text(text)
    (root / "..data_tmp").symlink_to(version)
    os.replace(root / "..data_tmp", root / "..data")
