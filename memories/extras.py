"""The optional dependency groups (extras) of the package, read from its installed metadata.

The base install is what the sidecar agent runs; ``operator``, ``training``, ``local`` and ``dev`` add the rest
(pyproject.toml defines them: this module only reads what pip recorded). A command run without its extra fails
with :class:`~memories.errors.InstallationError` naming the extra to install, not with a bare import error.
"""

from __future__ import annotations

import re
from importlib import metadata

from memories.errors import InstallationError

DISTRIBUTION = "memories-optimization"
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def extra_providing(module: str) -> str | None:
    """The extra whose requirements include the distribution of top-level module ``module`` (named alike, as
    kopf, kubernetes, onnx and cryptography are), or None (a base dependency, or not one of ours)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    wanted = _normalized(module.partition(".")[0])
    for requirement in requirements:
        name, extra = _NAME.match(requirement), _EXTRA.search(requirement)
        if name and extra and _normalized(name.group(1)) == wanted:
            return extra.group(1)
    return None


def missing_extra(error: ModuleNotFoundError, command: str) -> InstallationError | None:
    """The error to show when ``command`` failed on ``error`` because an extra is not installed, else None."""
    extra = extra_providing(error.name or "")
    if extra is None:
        return None
    return InstallationError(
        f"{command} needs the '{extra}' extra ({error.name} is not installed): pip install '{DISTRIBUTION}[{extra}]'"
    )
