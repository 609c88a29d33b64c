"""Size classes of a MemoryPool and how its arena is carved into one region per class.

Layout: regions follow each other in ascending class order, each starting on a page
boundary (``mmap.PAGESIZE``); region *i* holds ``block_count`` blocks of ``size_class``
bytes back to back, so block *k* of a region lives at ``region.offset + k * size_class``.
By default every class gets an equal share of ``total_size`` bytes; ``region_shares``
weights them differently. Bytes left over by rounding sit unused at the end of the arena.
"""

from __future__ import annotations

import bisect
import mmap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memories.errors import ConfigError
from memories.units import Size, parse_size


@dataclass(frozen=True, slots=True)
class Region:
    """The run of same-sized blocks serving one size class (all figures in bytes)."""

    size_class: int
    offset: int
    block_count: int

    @property
    def length(self) -> int:
        return self.size_class * self.block_count

    def block_offset(self, index: int) -> int:
        """Arena offset of block ``index`` (0-based) of this region."""
        return self.offset + index * self.size_class


def parse_block_sizes(block_sizes: Iterable[Size]) -> tuple[int, ...]:
    """Return the distinct block sizes in bytes, ascending.

    Raises ConfigError for an empty list, a size <= 0, an unparseable size or a duplicate.
    """
    sizes = [parse_size(size, field="block_sizes", allow_zero=False) for size in block_sizes]
    if not sizes:
        raise ConfigError("block_sizes: give at least one block size")
    if len(set(sizes)) != len(sizes):
        raise ConfigError(f"block_sizes: duplicate sizes in {sizes}")
    return tuple(sorted(sizes))


def plan_regions(
    size_classes: Sequence[int],
    total_size: int,
    region_shares: Sequence[float] | None = None,
    page_size: int = mmap.PAGESIZE,
) -> tuple[Region, ...]:
    """Carve ``total_size`` bytes into page-aligned regions, one per class (ascending).

    ``region_shares`` (same order as ``size_classes``, positive weights) sets the fraction
    of the arena each class gets; None means equal shares.

    Raises ConfigError when the shares are malformed or a class would get no block.
    """
    shares = list(region_shares) if region_shares is not None else [1.0] * len(size_classes)
    if len(shares) != len(size_classes) or any(not share > 0 for share in shares):
        raise ConfigError(
            f"region_shares: need one positive weight per block size ({len(size_classes)}), got {region_shares!r}"
        )
    total_share = sum(shares)
    regions = []
    cursor = 0
    for size_class, share in zip(size_classes, shares, strict=True):
        start = -(-cursor // page_size) * page_size
        budget = int(total_size * share / total_share)
        block_count = min(budget, max(0, total_size - start)) // size_class
        if block_count == 0:
            raise ConfigError(
                f"total_size: {total_size} bytes leave no room for a {size_class}-byte block "
                f"(share {share / total_share:.0%}); raise total_size or adjust region_shares"
            )
        regions.append(Region(size_class=size_class, offset=start, block_count=block_count))
        cursor = start + block_count * size_class
    return tuple(regions)


def smallest_fitting_class(size_classes: Sequence[int], size: Size) -> tuple[int, int]:
    """Return ``(class index, size in bytes)`` for the smallest class >= ``size``.

    ``size`` is bytes or a size string ("4KB"). Raises ValueError (ConfigError) when it is
    not positive, unparseable, or exceeds the largest class.
    """
    if type(size) is not int:
        size = parse_size(size, field="size", allow_zero=False)
    if size <= 0:
        raise ConfigError(f"size: must be > 0 bytes, got {size}")
    index = bisect.bisect_left(size_classes, size)
    if index == len(size_classes):
        raise ConfigError(f"size: {size} bytes exceeds the largest block size ({size_classes[-1]} bytes)")
    return index, size
