"""Reading the agent's config file (YAML or JSON) into a :class:`SidecarConfig`, and its JSON Schema.

Every error is a :class:`~memories.errors.ConfigError` whose message starts with the path of the bad field,
e.g. ``cache.l1Size: cannot parse size '64XB'``; unknown fields are errors (a typo never falls back to a
default).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from memories.errors import ConfigError
from memories.settings.parse import ParseOptions, parse_section
from memories.settings.schema import json_schema
from memories.sidecar.config.document import SidecarConfig

#: Where the generated JSON Schema of the file ships, inside this package.
SCHEMA_FILE = "schema.json"


def parse_config(document: object, *, environ: Mapping[str, str] | None = None) -> SidecarConfig:
    """The typed config of a parsed YAML/JSON document (None = all defaults).

    ``environ`` (default: the process environment) gives the fields that fall back to a variable, such as
    ``cache.l3.url`` to ``MEMORIES_L3_URL``. Raises ConfigError naming the first bad field.
    """
    options = ParseOptions(environ=os.environ if environ is None else environ)
    return parse_section(SidecarConfig, document, "", options)


def parse_config_text(text: str, *, source: str = "<config>") -> SidecarConfig:
    """Parse YAML or JSON text; raises ConfigError for syntax errors (naming ``source``) or bad fields."""
    try:
        document: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML/JSON: {error}") from error
    return parse_config(document)


def load_config(path: str | Path | None) -> SidecarConfig:
    """Read and parse the config file at ``path``; None returns the documented defaults.

    Raises ConfigError when the file cannot be read or is invalid.
    """
    if path is None:
        return parse_config(None)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error.strerror or error}") from error
    if str(path).endswith(".json"):
        try:
            return parse_config(json.loads(text))
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}: not valid JSON: {error}") from error
    return parse_config_text(text, source=str(path))


def read_auth_token(config: SidecarConfig) -> str | None:
    """Return the bearer token from ``server.authTokenFile`` (whitespace stripped), or None when unset.

    Raises ConfigError when the file is set but unreadable or empty.
    """
    token_file = config.server.auth_token_file
    if token_file is None:
        return None
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"server.authTokenFile: cannot read {token_file}: {error.strerror or error}") from error
    if not token:
        raise ConfigError(f"server.authTokenFile: {token_file} is empty")
    return token


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the file, as shipped in :data:`SCHEMA_FILE`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://memories.dev/schemas/sidecar-config.json",
        "title": "memories sidecar config",
        **json_schema(SidecarConfig),
    }
