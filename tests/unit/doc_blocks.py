"""Code blocks of documentation pages, run as a reader would run them, and the names they use.

Blocks may use top-level ``await`` (as in ``python -m asyncio``); each runs in the namespace it is given.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

MARKDOWN_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
RST_CODE_BLOCK = re.compile(r"\.\. code-block:: python\n\n((?:    .*\n|\s*\n)+)")


@dataclass(frozen=True)
class CodeBlock:
    """One python block of a page; ``line`` is where its code starts (1-based)."""

    page: Path
    line: int
    source: str

    @property
    def label(self) -> str:
        """``<page name>:<line>``, for test ids and tracebacks."""
        return f"{self.page.name}:{self.line}"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def markdown_python_blocks(page: Path) -> list[CodeBlock]:
    """The fenced ``python`` blocks of a Markdown page, in page order."""
    text = page.read_text(encoding="utf-8")
    return [
        CodeBlock(page, _line_of(text, match.start(2)), match[2])
        for match in MARKDOWN_FENCE.finditer(text)
        if match[1] == "python"
    ]


def rst_python_blocks(page: Path) -> list[CodeBlock]:
    """The ``.. code-block:: python`` blocks of a reStructuredText page, dedented, in page order."""
    text = page.read_text(encoding="utf-8")
    return [
        CodeBlock(page, _line_of(text, match.start(1)), re.sub(r"^    ", "", match[1], flags=re.MULTILINE))
        for match in RST_CODE_BLOCK.finditer(text)
    ]


async def run_block(block: CodeBlock, namespace: dict[str, object]) -> None:
    """Run ``block`` in ``namespace`` (top-level ``await`` allowed); its exceptions propagate."""
    code = compile(
        "\n" * (block.line - 1) + block.source, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    outcome = eval(code, namespace)
    if outcome is not None:
        await outcome


def names_used(source: str) -> set[str]:
    """Names a block uses in its code (not only imports): identifiers and attribute names."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
    return used
