def cut_points(
    data: object,
    gear: object,
    minimum: int,
    average: int,
    maximum: int,
    hard_mask: int,
    easy_mask: int,
    final: bool,
    /,
) -> bytes: ...
def find_runs(data: object, minimum: int, /) -> bytes: ...
