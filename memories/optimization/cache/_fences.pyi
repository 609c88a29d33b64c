from collections.abc import Sequence
from typing import Any

class FenceState:
    _fences: Any
    key: str
    superseded: bool
    def __init__(self, fences: Any, key: str) -> None: ...

def open_writes(open: dict[str, list[Any]], keys: list[str], fence_type: type[Any], fences: Any) -> list[Any]: ...
def close_writes(open: dict[str, list[Any]], fences: Sequence[Any]) -> list[bool]: ...
