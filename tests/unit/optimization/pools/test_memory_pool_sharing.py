"""MemoryPool arenas backed by /dev/shm or a file are visible to other processes.

These tests are synchronous (the sync fast path) because they run subprocesses and map
files, which would block an event loop.
"""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from memories.errors import ConfigError
from memories.optimization.pools import MemoryPool

KIB = 1024

READ_IN_CHILD = """
import mmap, sys
path, offset, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "r+b") as handle, mmap.mmap(handle.fileno(), 0) as mapping:
    sys.stdout.write(mapping[offset : offset + length].hex())
    mapping[offset : offset + length] = bytes(reversed(mapping[offset : offset + length]))
"""


@pytest.fixture
def shm_name() -> str:
    return f"memories-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def test_shared_memory_block_is_visible_to_another_process_both_ways(shm_name: str) -> None:
    pool = MemoryPool(block_sizes=[4 * KIB, 16 * KIB], total_size="256KB", shm_name=shm_name)
    try:
        assert pool.path == f"/dev/shm/{shm_name}"
        block = pool.allocate_nowait(6 * KIB)
        payload = os.urandom(block.size)
        block.view[:] = payload
        child = subprocess.run(
            [sys.executable, "-c", READ_IN_CHILD, pool.path, str(block.offset), str(block.size)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert bytes.fromhex(child.stdout) == payload
        assert bytes(block.view) == bytes(reversed(payload))
    finally:
        pool.close()


def test_file_backed_block_is_visible_through_a_second_mapping(tmp_path: Path) -> None:
    arena_file = tmp_path / "arena"
    pool = MemoryPool(block_sizes=[4 * KIB], total_size="64KB", path=arena_file)
    block = pool.allocate_nowait(5)
    block.view[:] = b"hello"
    with open(arena_file, "r+b") as handle, mmap.mmap(handle.fileno(), 0) as second_mapping:
        assert second_mapping[block.offset : block.offset + 5] == b"hello"
        second_mapping[block.offset : block.offset + 5] = b"HELLO"
    assert bytes(block.view) == b"HELLO"
    pool.close()
    assert not arena_file.exists()


def test_close_unlinks_the_shared_memory_file_it_created(shm_name: str) -> None:
    pool = MemoryPool(block_sizes=[4 * KIB], total_size="16KB", shm_name=shm_name)
    assert Path(f"/dev/shm/{shm_name}").exists()
    pool.close()
    assert not Path(f"/dev/shm/{shm_name}").exists()


def test_close_keeps_a_file_that_existed_before(tmp_path: Path) -> None:
    arena_file = tmp_path / "existing"
    arena_file.write_bytes(b"")
    pool = MemoryPool(block_sizes=[4 * KIB], total_size="16KB", path=arena_file)
    assert arena_file.stat().st_size == 16 * KIB
    pool.close()
    assert arena_file.exists()


def test_unlink_on_close_removes_a_reused_file(tmp_path: Path) -> None:
    arena_file = tmp_path / "left-over"
    arena_file.write_bytes(b"x" * 10)
    pool = MemoryPool(block_sizes=[4 * KIB], total_size="16KB", path=arena_file, unlink_on_close=True)
    pool.close()
    assert not arena_file.exists()


def test_a_backing_file_in_a_missing_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    arena_file = tmp_path / "absent" / "arena"
    with pytest.raises(ConfigError) as raised:
        MemoryPool(block_sizes=[4 * KIB], total_size="16KB", path=arena_file)
    assert str(raised.value) == (
        f"path: cannot open the memory pool's file {arena_file}: "
        f"its directory {tmp_path / 'absent'} does not exist or is not a directory"
    )
    assert not isinstance(raised.value, FileNotFoundError)
    assert not (tmp_path / "absent").exists()


def test_a_backing_file_under_a_plain_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    with pytest.raises(ConfigError, match=f"path: cannot open the memory pool's file {tmp_path}/plain/arena: its"):
        MemoryPool(block_sizes=[4 * KIB], total_size="16KB", path=tmp_path / "plain" / "arena")


def test_a_backing_path_that_is_a_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"path: cannot open the memory pool's file {tmp_path}: Is a directory"):
        MemoryPool(block_sizes=[4 * KIB], total_size="16KB", path=tmp_path)
