"""A small Dockerfile reader for the delivery tests: instructions grouped by build stage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    """One ``FROM`` section: its base image expression, alias, and (instruction, arguments) pairs."""

    base: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        """Arguments of every ``instruction`` (upper case) in this stage."""
        return [arguments for name, arguments in self.instructions if name == instruction]


@dataclass
class Dockerfile:
    """Global ``ARG`` defaults and the stages, in order."""

    global_arguments: dict[str, str]
    stages: list[Stage]

    def stage(self, alias: str) -> Stage:
        """The stage named ``alias``."""
        [found] = [stage for stage in self.stages if stage.alias == alias]
        return found

    def image(self, alias: str) -> list[Stage]:
        """The stages the image of target ``alias`` is made of: that stage and those it is ``FROM``, base first."""
        aliases = {stage.alias for stage in self.stages}
        chain = [self.stage(alias)]
        while chain[0].base in aliases:
            chain.insert(0, self.stage(chain[0].base))
        return chain

    def image_arguments(self, alias: str, instruction: str) -> list[str]:
        """Arguments of every ``instruction`` in the stages of image ``alias`` (inherited ones first)."""
        return [arguments for stage in self.image(alias) for arguments in stage.arguments(instruction)]


def parse_dockerfile(path: Path) -> Dockerfile:
    """Read ``path``: comments dropped, continuation lines joined."""
    logical = re.sub(
        r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    )
    global_arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in filter(None, (raw.strip() for raw in logical.splitlines())):
        instruction, _, arguments = line.partition(" ")
        instruction, arguments = instruction.upper(), " ".join(arguments.split())
        if instruction == "FROM":
            image, _, alias = arguments.partition(" AS ")
            stages.append(Stage(base=image.strip(), alias=alias.strip() or None))
        elif not stages and instruction == "ARG":
            name, _, default = arguments.partition("=")
            global_arguments[name] = default
        elif stages:
            stages[-1].instructions.append((instruction, arguments))
    return Dockerfile(global_arguments, stages)
