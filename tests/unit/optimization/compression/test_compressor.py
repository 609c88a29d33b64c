"""MemoryCompressor: lossless round trips of every accepted input kind, levels and metadata."""

from __future__ import annotations

import io
from pathlib import Path

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.optimization.compression import CompressedData, MemoryCompressor


def records(count: int) -> bytes:
    return b"".join(f"record {index},value {index % 97}\n".encode() for index in range(count))


@pytest.fixture
def compressor() -> MemoryCompressor:
    return MemoryCompressor("lz4", chunk_size="16KB", workers=2)


@given(data=st.binary(max_size=70_000), algorithm=st.sampled_from(["lz4", "zstd"]))
@settings(max_examples=60, deadline=None)
async def test_random_bytes_round_trip_through_to_bytes(data: bytes, algorithm: str) -> None:
    compressor = MemoryCompressor(algorithm, chunk_size=4096, workers=2)
    container = (await compressor.compress(data)).to_bytes()
    assert await compressor.decompress(container) == data


@pytest.mark.parametrize(
    ("algorithm", "level"), [("lz4", 0), ("lz4", 1), ("lz4", 3), ("lz4", 16), ("zstd", -5), ("zstd", 1), ("zstd", 19)]
)
async def test_every_level_round_trips(algorithm: str, level: int) -> None:
    compressor = MemoryCompressor(algorithm, level, chunk_size="32KB")
    data = records(5_000)
    compressed = await compressor.compress(data)
    assert (compressed.metadata.algorithm, compressed.metadata.level) == (algorithm, level)
    assert await compressor.decompress(compressed) == data


async def test_lz4_high_compression_levels_shrink_more_than_fast() -> None:
    data = records(20_000)
    fast = await MemoryCompressor("lz4", 0).compress(data)
    high = await MemoryCompressor("lz4", 9).compress(data)
    assert high.compressed_size < fast.compressed_size


async def test_metadata_records_sizes_and_chunk_table(compressor: MemoryCompressor) -> None:
    data = records(3_000)
    compressed = await compressor.compress(data)
    meta = compressed.metadata
    assert meta.original_size == len(data)
    assert [chunk.original_size for chunk in meta.chunks] == [
        min(16384, len(data) - start) for start in range(0, len(data), 16384)
    ]
    assert [chunk.original_offset for chunk in meta.chunks] == list(range(0, len(data), 16384))
    assert compressed.ratio == pytest.approx(len(data) / len(compressed.to_bytes()))


async def test_chunk_offsets_point_at_frames_in_the_serialized_container(compressor: MemoryCompressor) -> None:
    compressed = await compressor.compress(records(3_000))
    container = compressed.to_bytes()
    for chunk, frame in zip(compressed.metadata.chunks, compressed.frames, strict=True):
        assert container[chunk.offset : chunk.offset + chunk.compressed_size] == frame


@pytest.mark.parametrize(
    "array",
    [
        numpy.arange(10_000, dtype=numpy.float64).reshape(100, 100),
        numpy.arange(6000, dtype=">i4").reshape(20, 30, 10)[:, ::2, 1:],
        numpy.zeros((0, 5), dtype=numpy.uint16),
        numpy.array(3.5),
        numpy.array([(1, 2.0), (3, 4.0)], dtype=[("id", "<u2"), ("value", ">f8", (1,))]),
        numpy.array(["2024-01-01", "2025-06-30"], dtype="datetime64[D]"),
        numpy.asfortranarray(numpy.arange(30, dtype=numpy.complex64).reshape(5, 6)),
    ],
    ids=["float64", "non-contiguous-big-endian", "empty", "zero-dim", "structured", "datetime", "fortran-complex"],
)
async def test_arrays_come_back_equal_in_dtype_shape_and_values(
    compressor: MemoryCompressor, array: numpy.ndarray
) -> None:
    restored = await compressor.decompress((await compressor.compress(array)).to_bytes())
    assert isinstance(restored, numpy.ndarray)
    assert restored.dtype == array.dtype
    assert restored.shape == array.shape
    assert numpy.array_equal(restored, array)


async def test_restored_array_is_writable(compressor: MemoryCompressor) -> None:
    restored = await compressor.decompress(await compressor.compress(numpy.ones(10)))
    assert isinstance(restored, numpy.ndarray)
    restored[0] = 5.0
    assert restored[0] == 5.0


async def test_metadata_false_keeps_integrity_but_drops_array_description(compressor: MemoryCompressor) -> None:
    array = numpy.arange(100, dtype=numpy.int32)
    compressed = await compressor.compress(array, metadata=False)
    assert compressed.metadata.dtype is None and compressed.metadata.shape is None
    assert all(chunk.checksum for chunk in compressed.metadata.chunks)
    assert await compressor.decompress(compressed.to_bytes()) == array.tobytes()


async def test_user_metadata_survives_serialization(compressor: MemoryCompressor) -> None:
    compressed = await compressor.compress(b"abc", metadata={"source": "sentinel-2", "tile": 42})
    assert CompressedData.from_bytes(compressed.to_bytes()).metadata.user == {"source": "sentinel-2", "tile": 42}


async def test_non_json_user_metadata_is_a_config_error(compressor: MemoryCompressor) -> None:
    with pytest.raises(ConfigError, match="metadata"):
        await compressor.compress(b"abc", metadata={"when": object()})


@pytest.mark.parametrize("kind", [bytearray, memoryview, lambda data: numpy.frombuffer(data, dtype=numpy.uint8)])
async def test_buffers_of_any_kind_are_accepted(compressor: MemoryCompressor, kind: object) -> None:
    data = records(2_000)
    compressed = await compressor.compress(kind(data), metadata=False)  # type: ignore[operator]
    assert await compressor.decompress(compressed) == data


async def test_non_contiguous_memoryview_is_compressed_in_logical_order(compressor: MemoryCompressor) -> None:
    source = numpy.arange(1000, dtype=numpy.uint8)
    assert await compressor.decompress(await compressor.compress(source.data[::3])) == source[::3].tobytes()


async def test_file_paths_and_file_objects_are_read(compressor: MemoryCompressor, tmp_path: Path) -> None:
    data = records(4_000)
    path = tmp_path / "input.csv"
    path.write_bytes(data)
    assert await compressor.decompress(await compressor.compress(path)) == data
    assert await compressor.decompress(await compressor.compress(str(path))) == data
    assert await compressor.decompress(await compressor.compress(io.BytesIO(data))) == data


async def test_text_mode_file_is_rejected(compressor: MemoryCompressor) -> None:
    with pytest.raises(TypeError, match="binary"):
        await compressor.compress(io.StringIO("text"))


async def test_unsupported_data_type_is_a_type_error(compressor: MemoryCompressor) -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        await compressor.compress(12345)


async def test_object_arrays_are_rejected(compressor: MemoryCompressor) -> None:
    with pytest.raises(TypeError, match="objects"):
        await compressor.compress(numpy.array([object()]))


async def test_any_compressor_decompresses_other_algorithms() -> None:
    data = records(1_000)
    compressed = await MemoryCompressor("zstd", 5).compress(data)
    assert await MemoryCompressor("lz4").decompress(compressed.to_bytes()) == data


async def test_stats_count_bytes_and_operations(compressor: MemoryCompressor) -> None:
    data = records(1_000)
    compressed = await compressor.compress(data)
    await compressor.decompress(compressed)
    stats = compressor.stats()
    assert stats.operations["compress"].input_bytes == len(data)
    assert stats.operations["compress"].output_bytes == compressed.compressed_size
    assert stats.operations["decompress"].output_bytes == len(data)
    assert stats.operations["decompress"].operations == 1


async def test_lossless_methods_refuse_a_jpeg2000_compressor() -> None:
    with pytest.raises(ConfigError, match="algorithm"):
        await MemoryCompressor("jpeg2000", quality=85).compress(b"abc")


async def test_compress_images_requires_jpeg2000(compressor: MemoryCompressor) -> None:
    with pytest.raises(ConfigError, match="jpeg2000"):
        await compressor.compress_images(numpy.zeros((8, 8), dtype=numpy.uint8))


async def test_seed_example_runs_as_documented() -> None:
    compressor = MemoryCompressor(algorithm="lz4", level=6, chunk_size="64MB")
    large_dataset = records(10_000)
    compressed = await compressor.compress(data=large_dataset, metadata=True)
    assert await compressor.decompress(compressed) == large_dataset


async def test_async_context_manager_closes_workers() -> None:
    async with MemoryCompressor("zstd") as compressor:
        await compressor.compress(b"x" * 1000)
    assert await compressor.decompress(await compressor.compress(b"again")) == b"again"
