"""The three CustomResourceDefinitions, derived from the spec and status models.

``scripts/generate`` writes them to crds/ (and the chart's copies); nothing else writes a CRD by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from memories.operator import constants
from memories.operator.api.cache_policy import CachePolicySpec, CachePolicyStatus
from memories.operator.api.compression_profile import CompressionProfileSpec, CompressionProfileStatus
from memories.operator.api.memory_pool import MemoryPoolSpec, MemoryPoolStatus
from memories.settings.schema import crd_schema


@dataclass(frozen=True)
class PrinterColumn:
    """One ``kubectl get`` column; priority 1 shows only with ``-o wide``."""

    name: str
    type: str
    json_path: str
    description: str | None = None
    priority: int = 0


_READY = '.status.conditions[?(@.type=="Ready")].status'
_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class CustomResource:
    """One kind: its names, what it is (``summary`` heads the file, ``description`` is the schema's), its spec
    and status models and its ``kubectl get`` columns."""

    kind: str
    plural: str
    short_name: str
    summary: str
    description: str
    spec: type
    status: type
    columns: tuple[PrinterColumn, ...]

    @property
    def file_name(self) -> str:
        """The CRD's file name in crds/ (``<group>_<plural>.yaml``, as controller-gen names them)."""
        return f"{constants.GROUP}_{self.plural}.yaml"


CACHE_POLICY = CustomResource(
    kind="CachePolicy",
    plural=constants.CACHE_POLICY_PLURAL,
    short_name="cpol",
    summary="which pods get the memories sidecar, and the cache it runs for them.",
    description="CachePolicy injects the memories sidecar into the pods of its namespace that match its selector "
    "(and carry the label memories.dev/inject=enabled), and configures the multi-level cache the sidecar serves: "
    "L1 in memory, L2 on disk, L3 in Redis.",
    spec=CachePolicySpec,
    status=CachePolicyStatus,
    columns=(
        PrinterColumn("Ready", "string", _READY, "Whether the policy's config is rendered and its references resolve."),
        PrinterColumn("Pods", "integer", ".status.injectedPods", "Selected pods that run the sidecar."),
        PrinterColumn("Matched", "integer", ".status.matchedPods", "Pods the selector matches."),
        PrinterColumn(
            "Missed", "integer", ".status.missedPods", "Opted-in matched pods that run without the sidecar.", 1
        ),
        PrinterColumn("L1", "string", ".spec.tiers.l1Size", "In-memory tier size per pod."),
        PrinterColumn("L2", "string", ".spec.tiers.l2Size", "Disk tier size per pod."),
        PrinterColumn("Eviction", "string", ".spec.evictionPolicy", "Eviction policy.", 1),
        _AGE,
    ),
)
COMPRESSION_PROFILE = CustomResource(
    kind="CompressionProfile",
    plural=constants.COMPRESSION_PROFILE_PLURAL,
    short_name="cprof",
    summary="how the sidecar compresses what it stores (codec, level, chunking, lossy, dedup).",
    description="CompressionProfile says how the sidecar of every pod selected by a referencing CachePolicy "
    "compresses and deduplicates values before storing them in its L2 and L3 tiers.",
    spec=CompressionProfileSpec,
    status=CompressionProfileStatus,
    columns=(
        PrinterColumn("Ready", "string", _READY, "Whether the profile is valid and usable by policies."),
        PrinterColumn("Algorithm", "string", ".spec.algorithm", "Compression codec."),
        PrinterColumn("Level", "integer", ".spec.level", "Codec level."),
        PrinterColumn("Chunk", "string", ".spec.chunkSize", "Size of the independently compressed chunks."),
        PrinterColumn(
            "Dedup", "boolean", ".spec.dedup.enabled", "Whether block deduplication runs before compression."
        ),
        PrinterColumn("Policies", "integer", ".status.policies", "CachePolicies that reference this profile."),
        _AGE,
    ),
)
MEMORY_POOL = CustomResource(
    kind="MemoryPool",
    plural=constants.MEMORY_POOL_PLURAL,
    short_name="mpool",
    summary="a shared-memory arena of fixed-size blocks the sidecar serves to the workload.",
    description="MemoryPool is a shared-memory arena of fixed-size blocks, created by the sidecar of every pod a "
    "CachePolicy referencing it selects. The arena lives in an emptyDir with medium Memory sized to totalSize (the "
    "default /dev/shm of a container is only 64 MiB).",
    spec=MemoryPoolSpec,
    status=MemoryPoolStatus,
    columns=(
        PrinterColumn("Ready", "string", _READY, "Whether the pool is valid and usable by policies."),
        PrinterColumn("Total", "string", ".spec.totalSize", "Size of the whole arena."),
        PrinterColumn("Blocks", "string", ".spec.blockSizes", "Block size classes of the arena."),
        PrinterColumn("Shared", "boolean", ".spec.shared", "Whether the workload maps the arena too."),
        PrinterColumn("Policies", "integer", ".status.policies", "CachePolicies that reference this pool."),
        _AGE,
    ),
)
#: Every kind, in the order the reference documents them.
CUSTOM_RESOURCES = (CACHE_POLICY, COMPRESSION_PROFILE, MEMORY_POOL)


def crd_document(resource: CustomResource) -> dict[str, Any]:
    """The CustomResourceDefinition of ``resource`` as a document."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{resource.plural}.{constants.GROUP}",
            "labels": {"app.kubernetes.io/name": "memories-optimizer", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": constants.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.kind.lower(),
                "shortNames": [resource.short_name],
                "categories": ["memories"],
            },
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [_column(column) for column in resource.columns],
                    "schema": {"openAPIV3Schema": _root_schema(resource)},
                }
            ],
        },
    }


def crd_text(resource: CustomResource) -> str:
    """The CRD file: a header that says where it comes from, then the document as YAML."""
    header = (
        f"# {resource.kind}: {resource.summary}\n"
        "# Generated from memories/operator/api/ by scripts/generate: do not edit; change the model and rerun it.\n"
    )
    return header + yaml.dump(crd_document(resource), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as the hand-written manifests of the project do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _root_schema(resource: CustomResource) -> dict[str, Any]:
    return {
        "type": "object",
        "description": resource.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": f"Versioned schema of this representation of an object ({constants.API_VERSION}).",
            },
            "kind": {"type": "string", "description": f"Kind of this object ({resource.kind})."},
            "metadata": {"type": "object"},
            "spec": crd_schema(resource.spec),
            "status": crd_schema(resource.status),
        },
    }


def _column(column: PrinterColumn) -> dict[str, Any]:
    written: dict[str, Any] = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.description is not None:
        written["description"] = column.description
    if column.priority:
        written["priority"] = column.priority
    return written
