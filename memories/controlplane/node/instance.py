"""The on-disk record of one node: what it created and which processes it started.

``<node root>/<id>/instance.json`` is written before anything is created and updated after each step, so that a
teardown knows what to undo even when the process that started the node was killed. Processes are recorded with
their start time: a pid reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Root of every node's directory on this machine; ``MEMORIES_NODE_ROOT`` moves it (it must not be under a
#: directory that something else deletes wholesale: a node's directory holds mounts until its teardown).
DEFAULT_NODE_ROOT = Path("/var/lib/memories-node")
NODE_ROOT_ENVIRONMENT_VARIABLE = "MEMORIES_NODE_ROOT"
RECORD_NAME = "instance.json"


def node_root() -> Path:
    """The directory holding every node's directory (``$MEMORIES_NODE_ROOT`` or ``/var/lib/memories-node``)."""
    return Path(os.environ.get(NODE_ROOT_ENVIRONMENT_VARIABLE) or DEFAULT_NODE_ROOT)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after its closing one.
    return int(stat[stat.rindex(")") + 2 :].split()[19])


@dataclass(frozen=True)
class ProcessRef:
    """A process identified by pid and start time."""

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        """The running process ``pid``.

        Raises:
            ProcessLookupError: there is no such process.
        """
        start_time = _start_time(pid)
        if start_time is None:
            raise ProcessLookupError(pid)
        return cls(pid, start_time)

    def alive(self) -> bool:
        """True while this very process runs (a zombie counts as gone)."""
        if _start_time(self.pid) != self.start_time:
            return False
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return state[state.rindex(")") + 2] != "Z"


@dataclass
class NodeInstance:
    """What one node created; fields stay None or empty until the step that creates them ran."""

    id: str
    directory: Path
    owner: ProcessRef
    reaper: ProcessRef | None = None
    network_index: int | None = None
    cgroup_name: str | None = None
    holds_host_settings: bool = False
    #: Every process the node (and the control plane it belongs to) started, by name, in start order.
    processes: dict[str, ProcessRef] = field(default_factory=dict)
    #: Further directories to remove with the node (the control plane's, which holds etcd's data).
    owned_directories: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path | None = None) -> NodeInstance:
        """A new record for this process, with a fresh id and directory, saved."""
        root = root or node_root()
        root.mkdir(parents=True, exist_ok=True)
        while True:
            identifier = secrets.token_hex(3)
            directory = root / identifier
            try:
                directory.mkdir()
                break
            except FileExistsError:
                continue
        instance = cls(identifier, directory, ProcessRef.of(os.getpid()))
        instance.save()
        return instance

    @property
    def record_path(self) -> Path:
        """Where this record lives."""
        return self.directory / RECORD_NAME

    def save(self) -> None:
        """Write the record atomically (a reader never sees half of it)."""
        document = asdict(self)
        document["directory"] = str(self.directory)
        partial = self.record_path.with_suffix(".partial")
        partial.write_text(json.dumps(document, indent=2))
        partial.replace(self.record_path)

    @classmethod
    def load(cls, record_path: Path) -> NodeInstance:
        """Read a record written by :meth:`save`."""
        document = json.loads(record_path.read_text())
        reaper = document.get("reaper")
        return cls(
            id=document["id"],
            directory=Path(document["directory"]),
            owner=ProcessRef(**document["owner"]),
            reaper=ProcessRef(**reaper) if reaper else None,
            network_index=document.get("network_index"),
            cgroup_name=document.get("cgroup_name"),
            holds_host_settings=bool(document.get("holds_host_settings")),
            processes={name: ProcessRef(**ref) for name, ref in (document.get("processes") or {}).items()},
            owned_directories=list(document.get("owned_directories") or []),
        )

    def abandoned(self) -> bool:
        """True when neither the owner nor its reaper runs: nobody will tear this node down but a sweep."""
        return not self.owner.alive() and not (self.reaper is not None and self.reaper.alive())


def recorded_instances(root: Path | None = None) -> list[NodeInstance]:
    """Every node recorded under ``root`` (records that cannot be read are skipped)."""
    root = root or node_root()
    instances = []
    for record_path in sorted(root.glob(f"*/{RECORD_NAME}")):
        try:
            instances.append(NodeInstance.load(record_path))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return instances
