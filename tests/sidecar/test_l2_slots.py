"""Agents sharing an L2 directory (cache.l2Shared, what a CachePolicy's tiers.l2Volume renders): one slot each,
never the same, and a replacement reopens the slot a stopped or killed agent left, warm."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import yaml

from memories.errors import ConfigError
from memories.sidecar.l2_slots import lease_slot
from tests.sidecar.agent_process import MODULE_COMMAND, SidecarProcess
from tests.sidecar.conftest import sidecar_document


def test_agents_at_once_get_different_slots_and_a_released_one_is_taken_again(tmp_path: Path) -> None:
    first, second = lease_slot(tmp_path / "shared"), lease_slot(tmp_path / "shared")
    assert (first.directory.name, second.directory.name) == ("slot-0", "slot-1")
    first.release()
    third = lease_slot(tmp_path / "shared")
    assert third.directory == first.directory
    second.release()
    third.release()


def test_a_slot_held_by_another_process_is_skipped_until_that_process_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from memories.sidecar.l2_slots import lease_slot; "
            "lease_slot(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        taken = lease_slot(tmp_path)
        assert taken.directory.name == "slot-1"
        taken.release()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    after_kill = lease_slot(tmp_path)
    assert after_kill.directory.name == "slot-0"  # the kernel dropped the killed holder's lock
    after_kill.release()


def test_a_directory_that_cannot_be_used_is_a_config_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigError, match=r"^cache\.l2Path: cannot use .*file.* as a shared L2 directory"):
        lease_slot(tmp_path / "file" / "l2")


def test_every_slot_held_is_a_config_error(tmp_path: Path) -> None:
    held = [lease_slot(tmp_path, max_slots=2) for _ in range(2)]
    with pytest.raises(ConfigError, match="all 2 slots"):
        lease_slot(tmp_path, max_slots=2)
    for slot in held:
        slot.release()


def shared_config(tmp_path: Path, name: str) -> Path:
    document = sidecar_document(
        {"cache": {"l1Size": "64KB", "l2Size": "16MB", "l2Path": str(tmp_path / "volume"), "l2Shared": True}}
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_replicas_keep_apart_and_a_replacement_reopens_the_killed_agents_slot_warm(tmp_path: Path) -> None:
    started: list[SidecarProcess] = []
    try:
        first = SidecarProcess(shared_config(tmp_path, "first"), MODULE_COMMAND)
        started.append(first)
        first.wait_ready()
        second = SidecarProcess(shared_config(tmp_path, "second"), MODULE_COMMAND)
        started.append(second)
        second.wait_ready()
        mine = {f"first-{index}": bytes([index]) * 4000 for index in range(64)}  # 256 KB: 4x the 64 KB L1
        theirs = {f"second-{index}": bytes([index]) * 4000 for index in range(64)}
        redis.Redis(port=first.resp_port).mset(mine)
        redis.Redis(port=second.resp_port).mset(theirs)
        assert sorted(path.name for path in (tmp_path / "volume").glob("slot-?")) == ["slot-0", "slot-1"]
        first.process.send_signal(signal.SIGKILL)  # as a node losing the pod: no shutdown at all
        first.process.wait()
        replacement = SidecarProcess(shared_config(tmp_path, "replacement"), MODULE_COMMAND)
        started.append(replacement)
        replacement.wait_ready()
        client = redis.Redis(port=replacement.resp_port)
        restored = client.mget(list(mine))
        recovered = [value for value in restored if value is not None]
        assert recovered, "the replacement started cold: it did not reopen the killed agent's slot"
        assert all(value == mine[key] for key, value in zip(mine, restored, strict=True) if value is not None)
        assert client.mget(list(theirs)) == [None] * len(theirs)  # the running replica's slot stays its own
        assert replacement.terminate() == 0 and second.terminate() == 0
    finally:
        for sidecar in started:
            if sidecar.process.poll() is None:
                sidecar.process.kill()
                sidecar.process.wait()
