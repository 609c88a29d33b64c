"""Where a CachePolicy's disk tier lives when it must outlive the pod: a PersistentVolumeClaim or a node directory."""

from __future__ import annotations

from memories.settings import exactly_one_of, section, setting
from memories.settings.kinds import OBJECT_NAME_PATTERN, AbsolutePath, Text

#: The uid and gid the agent runs as (the injected securityContext): a persistent L2 volume must be writable by it.
AGENT_USER = 65532


@section
class ClaimSource:
    """A PersistentVolumeClaim of the policy's namespace."""

    claim_name: str = setting(
        Text(max_length=253, pattern=OBJECT_NAME_PATTERN, expected="a Kubernetes object name"),
        doc="Name of a PersistentVolumeClaim in the policy's namespace. Several replicas on several nodes need "
        "ReadWriteMany; with ReadWriteOnce they must share a node.",
    )


@section
class HostPathSource:
    """A directory on each node."""

    path: str = setting(
        AbsolutePath(),
        doc="An existing directory on the node, writable by uid 65532. A pod started on another node finds "
        "that node's directory (cold).",
    )


@section(
    rules=(
        exactly_one_of(
            "persistent_volume_claim", "host_path", "l2Volume takes exactly one of persistentVolumeClaim or hostPath"
        ),
    )
)
class L2Volume:
    """The volume of a disk tier that outlives its pods."""

    persistent_volume_claim: ClaimSource | None = setting(doc="Keep the disk tier on this claim.", default=None)
    host_path: HostPathSource | None = setting(doc="Keep the disk tier in this node directory.", default=None)

    def volume_source(self) -> dict[str, object]:
        """The pod volume source (``persistentVolumeClaim`` or ``hostPath``) of this volume."""
        if self.persistent_volume_claim is not None:
            return {"persistentVolumeClaim": {"claimName": self.persistent_volume_claim.claim_name}}
        assert self.host_path is not None  # the rule above: exactly one is set
        return {"hostPath": {"path": self.host_path.path, "type": "Directory"}}


#: The description of tiers.l2Volume (kubectl explain shows it).
L2_VOLUME_DOC = (
    "Where the disk tier's files live so that they outlive the pod: a PersistentVolumeClaim or a directory on the "
    "node; omit for an emptyDir, whose files go with the pod. Under <namespace>/<policy> on that volume each agent "
    "locks a slot directory of its own, so replicas never share one and a pod that replaces another reopens the "
    "slot left behind, warm. The volume must be writable by uid 65532. Requires l2Size."
)
