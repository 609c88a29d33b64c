"""The demo's embedded default data: deterministic, realistic-looking sensor records."""

from __future__ import annotations

import numpy as np


def sensor_log(number_of_records: int, *, seed: int = 7) -> bytes:
    """Return ``number_of_records`` CSV lines of a fake fleet of sensors (about 60 bytes each).

    Realistic enough to compress like real logs: repeated station names, slowly varying numbers.
    """
    generator = np.random.default_rng(seed)
    stations = [f"station-{index:03d}" for index in range(40)]
    temperature = 15 + np.cumsum(generator.normal(0, 0.05, number_of_records))
    humidity = np.clip(55 + np.cumsum(generator.normal(0, 0.1, number_of_records)), 0, 100)
    station_ids = generator.integers(0, len(stations), number_of_records)
    lines = [
        f"{1_700_000_000 + index * 5},{stations[station]},{temp:.2f},{hum:.1f},ok\n"
        for index, (station, temp, hum) in enumerate(zip(station_ids, temperature, humidity, strict=True))
    ]
    return "".join(lines).encode()


def satellite_tile(size: int = 128, bands: int = 4, *, seed: int = 11) -> np.ndarray:
    """Return a smooth, multi-band uint16 image (size × size × bands) resembling a satellite tile."""
    generator = np.random.default_rng(seed)
    axis = np.linspace(0, 4 * np.pi, size)
    base = (np.sin(axis)[:, None] + np.cos(axis * 0.7)[None, :]) * 4000 + 20000
    layers = [base + generator.normal(0, 150, (size, size)) + band * 900 for band in range(bands)]
    return np.clip(np.stack(layers, axis=-1), 0, 65535).astype(np.uint16)
