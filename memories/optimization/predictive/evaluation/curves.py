"""Miss-ratio curves: the miss ratio of each cache configuration against the cache size, drawn with matplotlib.

matplotlib is optional (the ``bench`` extra); :func:`plot_miss_ratio_curves` raises ConfigError naming
the extra when it is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy
from numpy.typing import ArrayLike

from memories.errors import ConfigError

#: Line style per kind of curve: eviction alone, with prefetch, another implementation, the optimum.
STYLES = {"eviction": "-", "prefetch": "--", "peer": "-.", "optimum": ":"}


@dataclass(slots=True)
class MissRatioCurve:
    """Miss ratios (0..1) at cache ``sizes`` (entries) of one configuration; ``kind`` is a key of ``STYLES``;
    curves of one ``group`` (e.g. a policy with and without prefetch) share a colour."""

    label: str
    kind: str = "eviction"
    group: str = ""
    sizes: list[int] = field(default_factory=list)
    miss_ratios: list[float] = field(default_factory=list)

    def add(self, size: int, miss_ratio: float) -> None:
        """Append one point."""
        self.sizes.append(size)
        self.miss_ratios.append(miss_ratio)


def plot_miss_ratio_curves(
    curves: Sequence[MissRatioCurve], path: str | Path, *, title: str, distinct_keys: int | None = None
) -> None:
    """Draw ``curves`` (cache size on a log axis) into the image ``path`` (format from its suffix, e.g. .png).

    With ``distinct_keys`` a second axis shows the size as a share of them. Raises ConfigError when
    matplotlib is not installed or ``path`` has an unknown image suffix.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise ConfigError(
            "--plot needs matplotlib, which comes with the 'bench' extra: pip install 'memories-optimization[bench]'"
        ) from None
    figure, axes = pyplot.subplots(figsize=(8, 5), dpi=110)
    try:
        palette = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
        colours: dict[str, str] = {}
        for curve in curves:
            group = curve.group or curve.label
            colour = (
                "black" if curve.kind == "optimum" else colours.setdefault(group, palette[len(colours) % len(palette)])
            )
            axes.plot(
                curve.sizes,
                curve.miss_ratios,
                STYLES.get(curve.kind, "-"),
                marker="o",
                markersize=3,
                color=colour,
                label=curve.label,
            )
        axes.set_xscale("log")
        axes.set_xlabel("cache size (entries)")
        axes.set_ylabel("miss ratio")
        axes.set_ylim(bottom=0)
        axes.grid(True, which="both", alpha=0.3)
        axes.set_title(title)
        if distinct_keys:
            keys = float(distinct_keys)

            def to_share(size: ArrayLike) -> ArrayLike:
                return numpy.asarray(size, dtype=float) * (100.0 / keys)

            def to_size(share: ArrayLike) -> ArrayLike:
                return numpy.asarray(share, dtype=float) * (keys / 100.0)

            share = axes.secondary_xaxis("top", functions=(to_share, to_size))
            share.set_xlabel("share of distinct keys (%)")
        axes.legend(fontsize="small", loc="best")
        figure.tight_layout()
        try:
            figure.savefig(path)
        except ValueError as error:  # matplotlib's message for an unknown format names the supported ones
            raise ConfigError(f"--plot {path}: {error}") from None
    finally:
        pyplot.close(figure)
