from collections.abc import Callable

def run(
    data: bytes,
    start: int,
    budget: int,
    output_budget: int,
    max_bulk_length: int,
    max_key_length: int,
    max_value_size: int,
    get: Callable[[str], object],
    set: Callable[[str, bytes], bool],
    missing: object,
    wrong_type: bytes,
    null: bytes,
    /,
) -> tuple[bytes, int, int, int, bool]: ...
def collect_sets(
    data: bytes,
    start: int,
    budget: int,
    max_bulk_length: int,
    max_key_length: int,
    max_value_size: int,
    taken: set[str],
    /,
) -> tuple[list[str], list[bytes], int]: ...
