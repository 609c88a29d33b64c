"""Block identifiers: which hash names a block.

``"xxhash"`` (the default) is XXH3-128. A 64-bit id is not safe for a block store: by the
birthday bound, the chance of any collision among ``n`` blocks is about ``n**2 / 2**65``;
at 4 KiB blocks, 1 PiB is ~2.7e11 blocks, which gives a collision with probability ~1 for
64 bits but ~1e-16 for 128 bits. XXH3 is not cryptographic, though: someone who controls
the input can craft collisions. Use ``verify=True`` on the Deduplicator (byte comparison on
every id match) or a cryptographic id, ``"blake2b"`` (BLAKE2b-256) or ``"sha256"``, when
inputs are untrusted.

Every hasher takes a ``seed``: 0 gives the plain id; a block that collides with a different
stored block (found with ``verify=True``) is stored under the id for the next free seed, and
the store remembers the seed so it can re-verify the block when reading it back.

``BlockHasher.block_ids`` hashes all the blocks of a buffer at once: for ``"xxhash"`` in C
(``_block_ids.c``, without the GIL, the same ids), unless it is not built or ``MEMORIES_PURE_PYTHON=1``
is set; otherwise one ``plain`` call per block, the reference a differential test compares it with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import xxhash

from memories.compiled import load_compiled
from memories.errors import ConfigError

BlockData = bytes | bytearray | memoryview
# (data, end offsets as int64, offset where the first block starts) -> one id per block
BlocksHasher = Callable[[BlockData, npt.NDArray[np.int64], int], list[bytes]]


def _load_compiled() -> BlocksHasher | None:
    """Return ``_block_ids.xxh3_128_blocks``, or None in a source tree that was never installed (or when
    ``MEMORIES_PURE_PYTHON`` is set)."""
    module = load_compiled("memories.optimization.dedup._block_ids")
    hasher: BlocksHasher | None = None if module is None else module.xxh3_128_blocks
    return hasher


def _xxh3_128(data: BlockData, seed: int) -> bytes:
    return xxhash.xxh3_128_digest(data, seed=seed)


def _blake2b(data: BlockData, seed: int) -> bytes:
    return hashlib.blake2b(data, digest_size=32, salt=seed.to_bytes(16, "little")).digest()


def _sha256(data: BlockData, seed: int) -> bytes:
    if seed == 0:
        return hashlib.sha256(data).digest()
    digest = hashlib.sha256(seed.to_bytes(8, "little"))
    digest.update(data)
    return digest.digest()


def _blake2b_plain(data: BlockData) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def _sha256_plain(data: BlockData) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class BlockHasher:
    """A named block-id function returning ``digest_size`` bytes.

    ``plain(data)`` is the seed-0 id (what ``digest(data, 0)`` returns), kept as a separate
    callable so the hot path can ``map`` a C function over the blocks without a Python frame.
    ``compiled_blocks``, when set, gives ``block_ids``'s result in one C call.
    """

    name: str
    digest_size: int
    digest: Callable[[BlockData, int], bytes]
    plain: Callable[[BlockData], bytes]
    compiled_blocks: BlocksHasher | None = None

    def block_ids(self, data: memoryview, ends: npt.NDArray[np.int64]) -> list[bytes]:
        """Return the seed-0 ids of the consecutive blocks of ``data`` that end at ``ends`` (from offset 0).

        ``ends`` are strictly increasing byte offsets, the last at most ``len(data)``.
        """
        if self.compiled_blocks is not None:
            return self.compiled_blocks(data, np.ascontiguousarray(ends, dtype=np.int64), 0)
        stops: list[int] = ends.tolist()
        return list(map(self.plain, map(data.__getitem__, map(slice, [0, *stops[:-1]], stops))))


HASHERS: dict[str, BlockHasher] = {
    "xxhash": BlockHasher("xxhash", 16, _xxh3_128, xxhash.xxh3_128_digest, _load_compiled()),
    "blake2b": BlockHasher("blake2b", 32, _blake2b, _blake2b_plain),
    "sha256": BlockHasher("sha256", 32, _sha256, _sha256_plain),
}


def hasher_named(name: str) -> BlockHasher:
    """Return the hasher called ``name``; raises ConfigError for an unknown name."""
    if not isinstance(name, str) or name.lower() not in HASHERS:
        raise ConfigError(f"hash_algorithm: expected one of {sorted(HASHERS)}, got {name!r}")
    return HASHERS[name.lower()]


def input_id_of(data: BlockData) -> str:
    """Return the default id of a whole input: the XXH3-128 hex digest of its bytes."""
    return xxhash.xxh3_128_hexdigest(data)
