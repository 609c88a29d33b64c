"""CompressionProfile: how the agents of the policies that reference it compress and deduplicate.

It is the agent's ``compression`` section plus ``dedup`` (:mod:`memories.sidecar.config.compression`), with the
rules the API server checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from memories.operator.api.common import Condition, conditions_of
from memories.optimization.compression.config import LZ4_LEVELS, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL
from memories.settings import Rule, like, section, setting
from memories.settings.kinds import Integer
from memories.settings.parse import CUSTOM_RESOURCE, parse_section
from memories.sidecar.config.compression import CompressionConfig, DedupSettings


def _level_within(algorithm: str, levels: range, message: str) -> Rule:
    low, high = levels.start, levels.stop - 1
    return Rule(
        message,
        cel=f"!has(self.level) || self.algorithm != '{algorithm}' || (self.level >= {low} && self.level <= {high})",
        check=lambda profile: profile.level is None or profile.algorithm != algorithm or profile.level in levels,
        field=".level",
        reason="FieldValueInvalid",
    )


@section(
    doc="Desired compression settings.",
    rules=(
        Rule(
            "lossy settings require algorithm jpeg2000 (lz4 and zstd are lossless)",
            cel="!has(self.lossy) || self.algorithm == 'jpeg2000'",
            check=lambda profile: profile.lossy is None or profile.algorithm == "jpeg2000",
            field=".lossy",
            reason="FieldValueForbidden",
        ),
        _level_within("lz4", LZ4_LEVELS, "lz4 levels are 0 to 16 (3 and above select the high-compression mode)"),
        _level_within(
            "zstd",
            range(ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL + 1),
            "zstd levels are 1 to 22 (negative values select the fast modes)",
        ),
        Rule(
            "jpeg2000 has no level; set lossy.quality or lossy.targetSize instead",
            cel="!has(self.level) || self.algorithm != 'jpeg2000'",
            check=lambda profile: profile.level is None or profile.algorithm != "jpeg2000",
            field=".level",
            reason="FieldValueForbidden",
        ),
    ),
)
class CompressionProfileSpec(CompressionConfig):
    """``CompressionProfile.spec``: the agent's codec settings, larger chunks by default, and dedup."""

    chunk_size: int = like(
        CompressionConfig,
        "chunk_size",
        default="4Mi",
        doc="Values are compressed in independent chunks of this size, in bytes or with a unit (Ki, Mi, Gi, or "
        "1024-based KB, MB, GB), so large values stream with bounded memory.",
    )
    dedup: DedupSettings = setting(
        doc="Block deduplication before compression; identical blocks are stored once.", default={}
    )


@section(doc="Observed state, written by the operator.")
class CompressionProfileStatus:
    """``CompressionProfile.status`` as the operator writes it."""

    observed_generation: int | None = setting(
        Integer(format="int64"), doc="The metadata.generation this status describes.", default=None
    )
    policies: int | None = setting(
        Integer(format="int32"),
        doc="Number of CachePolicies in the namespace that reference this profile.",
        default=None,
    )
    conditions: tuple[Condition, ...] | None = setting(
        conditions_of(Condition), doc="Current conditions of the profile (Ready, Degraded).", default=None
    )


def parse_compression_profile(spec: Mapping[str, Any]) -> CompressionProfileSpec:
    """Parse a CompressionProfile spec as the API server stores it; lossy settings need ``algorithm: jpeg2000``.

    Raises ConfigError naming the field, also for every rule the API server checks.
    """
    return parse_section(CompressionProfileSpec, spec, "spec", CUSTOM_RESOURCE)
