"""Values from Secrets and ConfigMaps: every key a CRD hands to the agent through an environment variable is one
the agent's config model reads (``env=``), so a CRD field with ``KeyRef(..., env=...)`` needs no operator code."""

from __future__ import annotations

from collections.abc import Iterator

from memories.operator.api.crds import CUSTOM_RESOURCES
from memories.settings import spec_of
from memories.settings.kinds import KeyRef, Kind, ListOf, Section
from memories.sidecar.config import SidecarConfig


def kinds_below(cls: type) -> Iterator[Kind]:
    for field in spec_of(cls).fields:
        kind = field.kind.item if isinstance(field.kind, ListOf) else field.kind
        yield kind
        if isinstance(kind, Section):
            yield from kinds_below(kind.cls)


def variables_read_by_the_agent(cls: type) -> Iterator[str]:
    for field in spec_of(cls).fields:
        if field.env is not None:
            yield field.env
        if isinstance(field.kind, Section):
            yield from variables_read_by_the_agent(field.kind.cls)


def test_every_variable_the_crds_fill_is_read_by_the_agent() -> None:
    filled = {
        kind.env
        for resource in CUSTOM_RESOURCES
        for kind in kinds_below(resource.spec)
        if isinstance(kind, KeyRef) and kind.env
    }
    assert "MEMORIES_L3_URL" in filled
    assert filled <= set(variables_read_by_the_agent(SidecarConfig))
