"""One typed model per concept, from which schemas, parsers, docs and rendering are derived.

Declare a section with :func:`section` and its fields with :func:`setting` (kinds in
:mod:`memories.settings.kinds`); parse documents with :func:`parse_section`, write instances back with
:func:`write_section`, derive schemas with :func:`crd_schema` and :func:`json_schema`. See docs/settings.md.
"""

from __future__ import annotations

from memories.settings.model import exactly_one_of, like, section, setting
from memories.settings.parse import parse_section
from memories.settings.spec import NO_DEFAULT, FieldSpec, Rule, SectionSpec, fields_set, spec_of

__all__ = [
    "NO_DEFAULT",
    "FieldSpec",
    "Rule",
    "SectionSpec",
    "exactly_one_of",
    "fields_set",
    "like",
    "parse_section",
    "section",
    "setting",
    "spec_of",
]
