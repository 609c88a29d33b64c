"""One parser for every section: errors name the field; strictness, server defaults, environment, nulls."""

from __future__ import annotations

from typing import Any

import pytest

from memories.errors import ConfigError
from memories.settings import Rule, fields_set, parse_section, section, setting
from memories.settings.kinds import (
    AbsolutePath,
    Boolean,
    Choice,
    Duration,
    Integer,
    KeyRef,
    KeyReference,
    ListOf,
    MapOf,
    NameRef,
    ObjectReference,
    Quantity,
    Size,
    Text,
)
from memories.settings.parse import AGENT_FILE, CUSTOM_RESOURCE, ParseOptions


@section
class Listener:
    host: str = setting(Text(min_length=1), doc="Host.")
    port: int | None = setting(Integer(minimum=0, maximum=65535, noun="port"), doc="Port.", nullable=True)


@section(rules=(Rule("small must not exceed large", check=lambda s: s.small <= s.large, field=".small"),))
class Everything:
    small: int = setting(Size(), doc="Size.", default="1Ki")
    large: int = setting(Size(positive=True), doc="Size.", default="1Mi")
    off: int | None = setting(Size(off_when_zero=True), doc="Size or off.", default=None)
    wait: float = setting(Duration(), doc="Duration.", default="1s")
    path: str | None = setting(AbsolutePath(), doc="Path.", default=None)
    mode: str = setting(Choice(("fast", "safe")), doc="Mode.", default="fast")
    count: int = setting(Integer(minimum=1), doc="Count.", default=1)
    flag: bool = setting(Boolean(), doc="Flag.", default=False)
    amount: int | str | None = setting(Quantity(), doc="Quantity.", default=None)
    items: tuple[int, ...] | None = setting(
        ListOf(Size(), item_doc="One size.", min_items=1, max_items=2), doc="Sizes.", default=None
    )
    labels: dict[str, str] | None = setting(MapOf(Text(), value_doc="Value."), doc="Labels.", default=None)
    secret: KeyReference | None = setting(KeyRef("Secret", key_doc="Key.", key_default="url"), doc="Ref.", default=None)
    profile: ObjectReference | None = setting(NameRef("Profile"), doc="Ref.", default=None)
    listener: Listener = setting(doc="Listener.", default={"host": "localhost", "port": 80})
    token: str | None = setting(Text(min_length=1), doc="Token.", default=None, env="TEST_TOKEN")


def parse(document: Any, options: ParseOptions = AGENT_FILE) -> Everything:
    return parse_section(Everything, document, "root", options)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"small": "1XB"}, "root.small: cannot parse size '1XB'"),
        ({"large": 0}, "root.large: size must be > 0"),
        ({"wait": "soon"}, "root.wait: cannot parse duration 'soon'"),
        ({"path": "relative"}, "root.path: must be an absolute path, got 'relative'"),
        ({"mode": "slow"}, "root.mode: expected one of fast, safe, got 'slow'"),
        ({"count": 0}, "root.count: must be >= 1, got 0"),
        ({"count": True}, "root.count: expected an integer, got True"),
        ({"flag": "yes"}, "root.flag: expected true or false, got 'yes'"),
        ({"amount": "lots"}, "root.amount: expected a Kubernetes quantity"),
        ({"items": []}, "root.items: expected a non-empty list"),
        ({"items": [1, 2, 3]}, "root.items: expected at most 2 items, got 3"),
        ({"items": [1, "x"]}, "root.items[1]: cannot parse size 'x'"),
        ({"labels": {"a": 1}}, "root.labels.a: expected a string, got 1"),
        ({"secret": {"key": "k"}}, "root.secret.name: required when root.secret is set"),
        ({"secret": {"name": "UPPER"}}, "root.secret.name: must be a Kubernetes object name"),
        ({"profile": "name"}, "root.profile: expected a mapping, got str"),
        ({"listener": {"port": 70000}}, "root.listener.port: port must be between 0 and 65535, got 70000"),
        ({"listener": []}, "root.listener: expected a mapping, got list"),
        ({"small": "2Mi"}, "root.small: small must not exceed large"),
        ({"unknown": 1}, "root.unknown: unknown field; expected one of small, large"),
    ],
)
def test_errors_start_with_the_path_of_the_bad_field(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(document)
    assert str(raised.value).startswith(message)


def test_custom_resources_ignore_unknown_fields() -> None:
    assert parse({"unknown": 1}, CUSTOM_RESOURCE) == Everything()


def test_server_defaults_count_as_given_and_file_defaults_do_not() -> None:
    assert "mode" in fields_set(parse({}, CUSTOM_RESOURCE))
    assert "mode" not in fields_set(parse({}))
    assert parse({}, CUSTOM_RESOURCE).mode == parse({}).mode == "fast"


def test_zero_turns_an_off_when_zero_size_off_but_counts_as_given() -> None:
    parsed = parse({"off": 0})
    assert parsed.off is None and "off" in fields_set(parsed)


def test_a_place_gives_its_section_defaults_and_an_explicit_null_stays_null() -> None:
    assert parse({}).listener == Listener(host="localhost", port=80)
    assert parse({"listener": {"host": "example"}}).listener == Listener(host="example", port=80)
    assert parse({"listener": {"port": None}}).listener == Listener(host="localhost", port=None)


def test_null_is_absent_for_fields_that_are_not_nullable() -> None:
    assert parse({"mode": None, "small": None}) == Everything()


def test_an_absent_field_reads_its_environment_variable() -> None:
    assert parse({}, ParseOptions(environ={"TEST_TOKEN": "secret"})).token == "secret"
    assert parse({"token": "given"}, ParseOptions(environ={"TEST_TOKEN": "secret"})).token == "given"
    assert parse({}).token is None


def test_values_are_normalized() -> None:
    parsed = parse({"small": "1.5Ki", "wait": "1m30s", "path": "/data/", "secret": {"name": "redis"}})
    assert (parsed.small, parsed.wait, parsed.path) == (1536, 90.0, "/data")
    assert parsed.secret == KeyReference(name="redis", key="url")


@section
class Holder:
    listener: Listener | None = setting(doc="A listener without defaults.", default=None)


def test_a_missing_required_field_is_named_with_the_section_it_belongs_to() -> None:
    with pytest.raises(ConfigError, match=r"^listener\.host: required when listener is set$"):
        parse_section(Holder, {"listener": {"port": 1}})
    with pytest.raises(ConfigError, match=r"^top\.host: required$"):
        parse_section(Listener, {"port": 1}, "top")
