"""Build a fake cgroup v2 directory in a temporary path."""

from __future__ import annotations

from pathlib import Path


def write_cgroup(directory: Path, **files: str) -> Path:
    """Write interface files; keyword ``memory_max`` becomes ``memory.max``, and so on."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cgroup.controllers").write_text("cpu io memory\n")
    for name, content in files.items():
        (directory / name.replace("_", ".", 1)).write_text(content)
    return directory


def pressure(total_microseconds: int, avg10: float = 1.5) -> str:
    return (
        f"some avg10={avg10:.2f} avg60=0.50 avg300=0.10 total={total_microseconds}\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=12\n"
    )
