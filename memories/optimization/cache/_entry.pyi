class MemoryEntry:
    value: object
    size: int
    expires_at: float | None
    reads: int
    def __init__(self, value: object, size: int, expires_at: float | None) -> None: ...

def costs(keys: list[str], values: list[bytes], overhead: int) -> list[int] | None: ...
