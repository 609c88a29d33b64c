"""CEL expressions that the CRDs' validation rules are built from.

Sizes are int-or-string in the CRDs, so a rule that compares sizes first computes bytes: a double, since CEL's
ints cannot hold 1.5Mi. The unit's first letter decides the factor; the pattern already allows only the units
of :data:`memories.settings.kinds.SIZE_PATTERN`.
"""

from __future__ import annotations

_UNIT_FACTORS = (("K", "1024.0"), ("M", "1048576.0"), ("G", "1073741824.0"), ("T", "1099511627776.0"))


def size_in_bytes(expression: str) -> str:
    """CEL computing the bytes (a double) of the size field or variable ``expression`` (e.g. ``self.l1Size``)."""
    text = f"string({expression})"
    factor = "".join(f"{text}.contains('{unit}') ? {value} : " for unit, value in _UNIT_FACTORS) + "1.0"
    return (
        f"(type({expression}) == int ? double({expression}) : double({text}.find('^[0-9]+([.][0-9]+)?')) * ({factor}))"
    )
