"""Declaring sections: annotations must agree with kinds, defaults are parsed once, reuse keeps one setting."""

from __future__ import annotations

import dataclasses

import pytest

from memories.settings import Rule, fields_set, like, section, setting, spec_of
from memories.settings.kinds import Choice, Integer, Size, Text


@section
class Tier:
    size: int = setting(Size(positive=True), doc="Capacity.", default="64Mi")
    policy: str = setting(Choice(("a", "b")), doc="Policy.", default="a")
    note: str | None = setting(Text(), doc="Free text.", default=None)


@section
class Outer:
    name: str = setting(Text(min_length=1), doc="Required name.")
    tier: Tier = setting(doc="A tier.", default={})
    size: int = like(Tier, "size", default="1Gi")


def test_wire_defaults_become_parsed_dataclass_defaults() -> None:
    assert Tier() == Tier(size=64 * 1024**2, policy="a", note=None)
    assert Outer(name="x").tier == Tier()
    assert Outer(name="x").size == 1024**3


def test_names_are_camel_case_of_the_attributes_and_required_fields_have_no_default() -> None:
    spec = spec_of(Outer)
    assert [(field.attribute, field.name, field.required) for field in spec.fields] == [
        ("name", "name", True),
        ("tier", "tier", False),
        ("size", "size", False),
    ]
    with pytest.raises(TypeError):
        Outer()  # type: ignore[call-arg]


def test_a_reused_setting_keeps_its_origin_and_may_change_its_default() -> None:
    assert spec_of(Outer).field("size").origin is spec_of(Tier).field("size").origin
    assert spec_of(Outer).field("size").default == "1Gi"


def test_instances_remember_the_fields_they_were_given() -> None:
    assert fields_set(Tier(policy="b")) == {"policy"}
    assert fields_set(Tier()) == set()


def test_sections_are_frozen_and_keyword_only() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Tier().size = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Tier(1)  # type: ignore[call-arg]


def test_an_annotation_that_disagrees_with_the_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="annotated"):

        @section
        class Wrong:
            size: str = setting(Size(), doc="A size is an int.", default=0)


def test_an_optional_field_must_allow_none() -> None:
    with pytest.raises(TypeError, match="must allow None"):

        @section
        class Wrong:
            count: int = setting(Integer(), doc="No default.", default=None)


def test_a_plain_dataclass_field_is_refused() -> None:
    with pytest.raises(TypeError, match="setting"):

        @section
        class Wrong:
            count: int = 3


def test_subclass_sections_inherit_fields_and_rules() -> None:
    rule = Rule("size must be even", check=lambda tier: tier.size % 2 == 0)

    @section(rules=(rule,))
    class Base:
        size: int = setting(Size(), doc="Size.", default=0)

    @section
    class Derived(Base):
        extra: str | None = setting(Choice(("x",)), doc="Extra.", default=None)

    assert [field.attribute for field in spec_of(Derived).fields] == ["size", "extra"]
    assert spec_of(Derived).rules == (rule,)


def test_a_rule_needs_cel_or_a_check_and_cel_messages_are_fixed_text() -> None:
    with pytest.raises(TypeError):
        Rule("nothing to check")
    with pytest.raises(TypeError):
        Rule(lambda value: f"{value}", cel="self > 0")
