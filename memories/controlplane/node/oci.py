"""Write OCI image archives (an image layout in one tar file) that ``ctr images import`` and buildah read.

Layers are stored uncompressed (their digest is their diff id): these archives never leave the machine, and
containerd unpacks them faster than gzip ones.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class ImageArchive:
    """An OCI archive on disk and the image name it carries."""

    path: Path
    name: str
    manifest_digest: str


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _descriptor(media_type: str, digest: str, size: int) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def write_image_archive(
    destination: Path,
    *,
    name: str,
    layers: Sequence[Path],
    config: Mapping[str, Any],
    history: Sequence[str] = (),
) -> ImageArchive:
    """Write an archive holding one linux/amd64 image named ``name`` (e.g. ``localhost/pause:3.10``).

    ``layers`` are uncompressed tar files, bottom first; ``config`` is the image config's ``config`` object
    (Entrypoint, Cmd, Env, User, ...). The file appears atomically (written beside it, then renamed).
    """
    layer_digests = [_sha256_file(layer) for layer in layers]
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": dict(config),
        "rootfs": {"type": "layers", "diff_ids": layer_digests},
        "history": [{"created_by": line} for line in history] or [{"created_by": "memories.controlplane.node.oci"}],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_digest = f"sha256:{hashlib.sha256(config_bytes).hexdigest()}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": _descriptor(CONFIG_MEDIA_TYPE, config_digest, len(config_bytes)),
        "layers": [
            _descriptor(LAYER_MEDIA_TYPE, digest, layer.stat().st_size)
            for digest, layer in zip(layer_digests, layers, strict=True)
        ],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = f"sha256:{hashlib.sha256(manifest_bytes).hexdigest()}"
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [
            {
                **_descriptor(MANIFEST_MEDIA_TYPE, manifest_digest, len(manifest_bytes)),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        _add_bytes(archive, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add_bytes(archive, "index.json", json.dumps(index).encode())
        _add_bytes(archive, f"blobs/sha256/{config_digest[7:]}", config_bytes)
        _add_bytes(archive, f"blobs/sha256/{manifest_digest[7:]}", manifest_bytes)
        for digest, layer in zip(layer_digests, layers, strict=True):
            archive.add(layer, arcname=f"blobs/sha256/{digest[7:]}", recursive=False)
    partial.replace(destination)
    return ImageArchive(destination, name, manifest_digest)
