"""The ``memoryPool`` section; the MemoryPool CRD shares its layout (block sizes, total size) and rules."""

from __future__ import annotations

import itertools

from memories.settings import Rule, section, setting
from memories.settings.cel import size_in_bytes
from memories.settings.kinds import ListOf, Size, Text

_BLOCKS_INCREASE = Rule(
    "blockSizes must be greater than zero and strictly increasing, e.g. [4Ki, 64Ki, 1Mi]",
    cel=f"self.all(v, {size_in_bytes('v')} > 0.0) && self.map(v, {size_in_bytes('v')}).isSorted() && "
    f"self.all(v, self.exists_one(w, {size_in_bytes('w')} == {size_in_bytes('v')}))",
    check=lambda sizes: all(later > earlier for earlier, later in itertools.pairwise(sizes)),
)
_TOTAL_HOLDS_LARGEST = Rule(
    "totalSize must be at least the largest block size, so one block of every size class fits",
    cel=f"self.blockSizes.all(v, {size_in_bytes('v')} <= {size_in_bytes('self.totalSize')})",
    check=lambda pool: max(pool.block_sizes) <= pool.total_size,
    field=".totalSize",
    reason="FieldValueInvalid",
)


@section(rules=(_TOTAL_HOLDS_LARGEST,))
class PoolLayout:
    """The shape of an arena of fixed-size blocks."""

    block_sizes: tuple[int, ...] = setting(
        ListOf(
            Size(positive=True),
            item_doc="One block size class, in bytes or with a unit (e.g. 64Ki).",
            min_items=1,
            max_items=16,
        ),
        doc="Block size classes in strictly increasing order, each in bytes or with a unit (Ki, Mi, Gi, Ti, or KB, "
        "MB, GB, TB which are 1024-based). An allocation gets a block of the smallest class that holds it. "
        "Example: [4Ki, 64Ki, 1Mi].",
        rules=(_BLOCKS_INCREASE,),
    )
    total_size: int = setting(
        Size(positive=True),
        doc="Size of the whole arena, in bytes or with a unit (e.g. 256Mi). Also the sizeLimit of the "
        "memory-backed volume, and it counts against the pod's memory limit.",
    )


@section(
    rules=(
        Rule(
            "set shmName or path, not both (the arena lives in one of them)",
            check=lambda pool: pool.shm_name is None or pool.path is None,
        ),
    )
)
class MemoryPoolConfig(PoolLayout):
    """The agent's shared-memory arena behind ``/v1/pool``."""

    shm_name: str | None = setting(Text(min_length=1), doc="POSIX shared-memory name (/dev/shm).", default=None)
    path: str | None = setting(
        Text(min_length=1), doc="File backing the arena (e.g. on a volume shared with the workload).", default=None
    )
