class MemoryEntry:
    value: object
    size: int
    expires_at: float | None
    reads: int
    def __init__(self, value: object, size: int, expires_at: float | None) -> None: ...
