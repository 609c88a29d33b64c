from typing_extensions import Buffer

OPENJPEG_VERSION: str

def encode(
    samples: Buffer,
    height: int,
    width: int,
    bands: int,
    sample_bytes: int,
    precision: int,
    psnr_db: float,
    transform: bool,
    threads: int,
    /,
) -> bytes: ...
