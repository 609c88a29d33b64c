"""Writing sections back (exactly the given fields, normalized) and carrying shared settings across sections."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.settings import fields_set, like, parse_section, section, setting
from memories.settings.kinds import Duration, KeyRef, KeyReference, ListOf, Section, Size, Text
from memories.settings.write import key_references, project, write_section
from memories.sidecar.config import SidecarConfig, parse_config
from tests.unit.settings.strategies import documents


@section
class Remote:
    size: int | None = setting(Size(off_when_zero=True), doc="Budget.", default=None)


@section
class RemoteWithUrl(Remote):
    url: str | None = setting(Text(), doc="URL.", default=None)


@section
class RemoteWithSecret(Remote):
    secret: str | None = setting(Text(), doc="Secret name.", default=None)


@section
class Agent:
    capacity: int = setting(Size(), doc="Capacity.", default="1Mi")
    expiry: float | None = setting(Duration(), doc="Expiry.", default=None)
    path: str | None = setting(Text(), doc="Agent path.", default=None)
    remote: RemoteWithUrl | None = setting(doc="Remote.", default=None)


@section
class Policy:
    capacity: int = like(Agent, "capacity", default="4Mi")
    path: str | None = setting(Text(), doc="A path that means something else here.", default=None)
    remote: RemoteWithSecret | None = setting(doc="Remote.", default=None)


def test_only_the_given_fields_are_written_in_normalized_form() -> None:
    assert write_section(Agent(expiry=90.0)) == {"expiry": 90.0}
    parsed = parse_section(Agent, {"capacity": "2Ki", "expiry": "1m", "remote": {"size": "1Ki"}})
    assert write_section(parsed) == {"capacity": 2048, "expiry": 60.0, "remote": {"size": 1024}}


def test_project_copies_the_shared_settings_and_nothing_that_only_shares_a_name() -> None:
    policy = Policy(capacity=5, path="/policy", remote=RemoteWithSecret(size=7, secret="redis"))
    agent = project(Agent, policy)
    assert agent.capacity == 5 and agent.path is None and agent.remote is None
    assert project(RemoteWithUrl, policy.remote) == RemoteWithUrl(size=7)


def test_project_skips_unset_settings_and_none_values() -> None:
    agent = project(Agent, Policy(), path=None, expiry=3.0)
    assert fields_set(agent) == {"expiry"}


def test_the_first_source_that_set_a_setting_wins() -> None:
    assert project(Agent, Policy(capacity=1), Agent(capacity=2)).capacity == 1
    assert project(Agent, Policy(), Agent(capacity=2)).capacity == 2


def _parsed_or_none(document: dict[str, Any]) -> SidecarConfig | None:
    try:
        return parse_config(document, environ={})
    except ConfigError:
        return None  # the document broke a rule across fields; the property is about valid ones


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(SidecarConfig))
def test_an_agent_config_reads_back_what_it_writes(document: dict[str, Any]) -> None:
    config = _parsed_or_none(document)
    if config is not None:
        assert parse_config(write_section(config), environ={}) == config


@given(st.integers(0, 1 << 30))
def test_sizes_write_as_the_bytes_they_parsed_to(size: int) -> None:
    assert write_section(parse_section(Agent, {"capacity": size})) == {"capacity": size}


@section
class Credentials:
    password: KeyReference | None = setting(
        KeyRef("Secret", key_doc="Key.", env="TEST_PASSWORD"), doc="Password.", default=None
    )


@section
class Connection:
    url: KeyReference = setting(KeyRef("Secret", key_doc="Key.", key_default="url", env="TEST_URL"), doc="URL.")
    credentials: Credentials | None = setting(doc="Credentials.", default=None)
    extra: tuple[Credentials, ...] | None = setting(
        ListOf(Section(Credentials), item_doc="More."), doc="More.", default=None
    )


def test_key_references_are_found_in_nested_sections_and_lists_in_order() -> None:
    connection = parse_section(
        Connection,
        {
            "url": {"name": "a"},
            "credentials": {"password": {"name": "b", "key": "p"}},
            "extra": [{}, {"password": {"name": "c", "key": "q"}}],
        },
    )
    found = [(kind.env, reference) for kind, reference in key_references(connection)]
    assert found == [
        ("TEST_URL", KeyReference("a", "url")),
        ("TEST_PASSWORD", KeyReference("b", "p")),
        ("TEST_PASSWORD", KeyReference("c", "q")),
    ]
