"""The JP2 encoder: component plans, band reordering, and files OpenJPEG's own tools read and beat.

Sizes are compared with ``opj_compress`` (the tool a user would pick instead) on the same samples:
lossless sizes exactly, lossy sizes at equal PSNR (each file's size corrected to the target PSNR
by the 6.02 dB-per-bit rule, since OpenJPEG's fixed-quality mode lands within a fraction of a dB).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imagecodecs
import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization.compression import jpeg2000_encoder
from memories.optimization.compression.images import Jpeg2000Codec
from memories.optimization.compression.jp2_boxes import CHANNEL_DEFINITION_BOX_TYPE, HEADER_BOX_TYPE, iterate_boxes
from memories.optimization.compression.jpeg2000_inputs import normalize_images
from memories.optimization.compression.jpeg2000_transform import plan_components, residual_covariance

requires_compiled_encoder = pytest.mark.skipif(
    jpeg2000_encoder.COMPILED_ENCODER is None, reason="the compiled OpenJPEG encoder is switched off or not built"
)


def scene(size: int, bands: int, *, seed: int = 0, correlated: bool = True) -> numpy.ndarray[Any, Any]:
    """A uint16 scene: shared terrain and texture at band-dependent gains, or independent bands."""
    generator = numpy.random.default_rng(seed)
    rows, columns = numpy.mgrid[0:size, 0:size].astype(float)
    layers = []
    shared_texture = generator.normal(0, 1500, (size, size))
    for band in range(bands):
        terrain = numpy.sin(columns / (7.0 + band)) + numpy.cos(rows / 11.0)
        texture = shared_texture if correlated else generator.normal(0, 1500, (size, size))
        gain = 0.7 + 0.6 * band / max(1, bands - 1)
        layers.append(30000 + 9000 * terrain * gain + texture * gain + generator.normal(0, 80, (size, size)))
    return numpy.stack(layers, axis=-1).clip(0, 65535).astype(numpy.uint16)


def opj_tool(name: str) -> str:
    binary = shutil.which(name)
    if binary is None:
        pytest.fail(f"{name} is not installed; scripts/setup installs libopenjp2-tools")
    return binary


def opj_compress(image: numpy.ndarray[Any, Any], psnr_db: float | None, directory: Path) -> bytes:
    height, width, bands = image.shape
    raw, output = directory / "peer.rawl", directory / "peer.jp2"
    image.transpose(2, 0, 1).astype("<u2").tofile(raw)
    command = [opj_tool("opj_compress"), "-i", str(raw), "-o", str(output), "-F", f"{width},{height},{bands},16,u"]
    if psnr_db is not None:
        command += ["-I", "-q", f"{psnr_db:g}"]
    subprocess.run(command, check=True, capture_output=True)
    return output.read_bytes()


def opj_decompress(jp2: bytes, shape: tuple[int, ...], directory: Path) -> numpy.ndarray[Any, Any]:
    (directory / "ours.jp2").write_bytes(jp2)
    command = [opj_tool("opj_decompress"), "-i", str(directory / "ours.jp2"), "-o", str(directory / "ours.rawl")]
    subprocess.run(command, check=True, capture_output=True)
    planar = numpy.fromfile(directory / "ours.rawl", dtype="<u2")  # RAWL: one band after the other
    height, width, bands = shape
    return planar.reshape(bands, height, width).transpose(1, 2, 0)


def size_at_psnr(jp2: bytes, image: numpy.ndarray[Any, Any], psnr_db: float) -> float:
    decoded = numpy.asarray(imagecodecs.jpeg2k_decode(jp2)).reshape(image.shape).astype(float)
    achieved = 10 * math.log10(65535**2 / numpy.mean((decoded - image) ** 2))
    return len(jp2) + image.size * (psnr_db - achieved) / 6.02 / 8


def channel_definitions(jp2: bytes) -> bool:
    for offset, box_type, length in iterate_boxes(jp2):
        if box_type == HEADER_BOX_TYPE:
            inner = iterate_boxes(jp2, offset + 8, offset + length)
            return any(inner_type == CHANNEL_DEFINITION_BOX_TYPE for _, inner_type, _ in inner)
    raise AssertionError("no JP2 header box")


@pytest.fixture(params=["compiled", "imagecodecs"])
def encoder_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the compiled OpenJPEG encoder and with the imagecodecs fallback."""
    if request.param == "compiled" and jpeg2000_encoder.COMPILED_ENCODER is None:
        pytest.skip("the compiled OpenJPEG encoder is switched off or not built")
    if request.param == "imagecodecs":
        monkeypatch.setattr(jpeg2000_encoder, "COMPILED_ENCODER", None)
    yield request.param


@pytest.mark.parametrize("bands", [1, 2, 3, 5, 16])
def test_lossless_round_trip_with_either_encoder(encoder_backend: str, bands: int) -> None:
    image = scene(24, bands, seed=bands)
    codec = Jpeg2000Codec(quality=100)
    numpy.testing.assert_array_equal(codec.decode(codec.encode(image))[0], image)


@pytest.mark.parametrize("bands", [3, 8])
def test_opj_decompress_reads_either_encoders_files_in_band_order(
    encoder_backend: str, bands: int, tmp_path: Path
) -> None:
    image = scene(40, bands)
    jp2 = Jpeg2000Codec(quality=100).encode(image).images[0].jp2
    numpy.testing.assert_array_equal(opj_decompress(jp2, image.shape, tmp_path), image)


def test_plan_transforms_the_most_redundant_triple() -> None:
    image = scene(64, 8, correlated=False)
    image[:, :, 5] = image[:, :, 2]  # bands 2, 5 and 7 say almost the same thing
    image[:, :, 7] = (image[:, :, 2] // 2 + image[:, :, 5] // 2 + 3).astype(numpy.uint16)
    plan = plan_components(residual_covariance(image), 40.0, 16)
    assert plan.transform and set(plan.order[:3]) == {2, 5, 7}
    assert sorted(plan.order) == list(range(8))


def test_plan_leaves_independent_bands_untransformed() -> None:
    plan = plan_components(residual_covariance(scene(64, 6, correlated=False)), 54.0, 16)
    assert plan == type(plan)(tuple(range(6)), transform=False)


def test_plan_keeps_opj_compress_order_when_bands_are_identical() -> None:
    image = numpy.repeat(scene(32, 1), 5, axis=2)
    plan = plan_components(residual_covariance(image), 40.0, 16)
    assert plan.transform and plan.order == (0, 1, 2, 3, 4) and not plan.reordered


def test_plan_never_transforms_fewer_than_three_bands() -> None:
    plan = plan_components(residual_covariance(scene(32, 2)), None, 16)
    assert not plan.transform and plan.order == (0, 1)


def test_residual_statistics_sample_huge_images_in_strips() -> None:
    image = scene(64, 3)
    tall = numpy.tile(image, (300, 1, 1))  # 19,200 × 64: sampled, and each strip looks like the tile
    numpy.testing.assert_allclose(residual_covariance(tall), residual_covariance(image), rtol=0.25)


@requires_compiled_encoder
def test_reordered_files_carry_channel_definitions_and_decode_in_order(tmp_path: Path) -> None:
    image = scene(48, 6, correlated=False)
    image[:, :, 3] = image[:, :, 4]
    image[:, :, 5] = image[:, :, 4]
    (validated,) = normalize_images(image)
    encoder = jpeg2000_encoder.ImageEncoder(validated, threads=1)
    assert encoder.plan(None).reordered
    jp2 = encoder.encode(None)
    assert channel_definitions(jp2)
    numpy.testing.assert_array_equal(numpy.asarray(imagecodecs.jpeg2k_decode(jp2)).reshape(image.shape), image)
    numpy.testing.assert_array_equal(opj_decompress(jp2, image.shape, tmp_path), image)


@requires_compiled_encoder
def test_without_transform_the_tile_data_equals_opj_compress(tmp_path: Path) -> None:
    image = scene(40, 2)
    ours = Jpeg2000Codec(quality=50).encode(image, preserve_metadata=False).images[0].jp2
    peer = opj_compress(image, 40.0, tmp_path)
    start_of_tile = b"\xff\x90"  # SOT: the main headers differ only by opj_compress's comment and colour space
    assert ours[ours.index(start_of_tile) :] == peer[peer.index(start_of_tile) :]


@requires_compiled_encoder
@pytest.mark.parametrize("bands", [1, 2, 3, 4, 8, 16])
def test_lossless_files_are_no_larger_than_opj_compress(bands: int, tmp_path: Path) -> None:
    image = scene(64, bands, seed=bands)
    ours = Jpeg2000Codec(quality=100).encode(image, preserve_metadata=False).images[0].jp2
    assert len(ours) <= len(opj_compress(image, None, tmp_path))


@requires_compiled_encoder
@pytest.mark.parametrize("bands", [1, 3, 4, 8, 16])
@pytest.mark.parametrize("quality", [50, 85])
def test_lossy_files_are_no_larger_than_opj_compress_at_equal_psnr(bands: int, quality: int, tmp_path: Path) -> None:
    image = scene(96, bands, seed=bands)
    psnr_db = 20.0 + 0.4 * quality
    ours = Jpeg2000Codec(quality=quality).encode(image, preserve_metadata=False).images[0].jp2
    peer = opj_compress(image, psnr_db, tmp_path)
    assert size_at_psnr(ours, image, psnr_db) <= size_at_psnr(peer, image, psnr_db) * 1.002


@requires_compiled_encoder
@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    bands=st.integers(1, 18),
    sample_bytes=st.sampled_from([1, 2]),
    psnr_db=st.one_of(st.just(0.0), st.floats(1.0, 90.0)),
    transform=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_encoder_handles_any_shape_and_setting(
    height: int, width: int, bands: int, sample_bytes: int, psnr_db: float, transform: bool, seed: int
) -> None:
    dtype = numpy.uint8 if sample_bytes == 1 else numpy.uint16
    image = numpy.random.default_rng(seed).integers(0, numpy.iinfo(dtype).max, (height, width, bands), dtype=dtype)
    assert jpeg2000_encoder.COMPILED_ENCODER is not None
    encode = jpeg2000_encoder.COMPILED_ENCODER.encode
    if transform and bands < 3:
        with pytest.raises(ValueError, match="3 bands"):
            encode(image, height, width, bands, sample_bytes, 8 * sample_bytes, psnr_db, transform, 2)
        return
    jp2 = encode(image, height, width, bands, sample_bytes, 8 * sample_bytes, psnr_db, transform, 2)
    decoded = numpy.asarray(imagecodecs.jpeg2k_decode(jp2)).reshape(image.shape)
    if psnr_db == 0.0:
        numpy.testing.assert_array_equal(decoded, image)


@requires_compiled_encoder
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((b"\0" * 11, 2, 2, 3, 1, 8, 0.0, False, 1), "expected 2 x 2 x 3 samples"),
        ((b"\0" * 12, 2, 2, 3, 1, 9, 0.0, False, 1), "cannot hold 9-bit"),
        ((b"\0" * 12, 2, 2, 3, 3, 8, 0.0, False, 1), "3-byte samples"),
        ((b"", 0, 2, 3, 1, 8, 0.0, False, 1), "every side"),
        ((b"\0" * 12, 2, 2, 3, 1, 8, -1.0, False, 1), "psnr_db"),
        ((b"\0" * 12, 2, 2, 3, 1, 8, math.inf, False, 1), "psnr_db"),
        ((b"\0" * 12, 2, 2, 3, 1, 8, math.nan, False, 1), "psnr_db"),
    ],
)
def test_compiled_encoder_rejects_inconsistent_arguments(arguments: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jpeg2000_encoder.COMPILED_ENCODER.encode(*arguments)  # type: ignore[union-attr]
