"""Histograms as inline SVG: two sides of a column's distribution as bars on one scale.

:func:`histogram_view` turns the dict of
:func:`~dockyard.monitor.report.side_by_side` (a monitor's reference and a
window, or two dataset versions, or one version alone) into the geometry the
``hist_svg`` macro of ``_hist.html`` draws. Bars are shares of each side's
values, so that two samples of different sizes compare on one scale.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from dockyard.server.ui import templates

HIST_W, HIST_H, HIST_PAD, HIST_AXIS, HIST_TOP = 460, 200, 8, 24, 18
LABEL_PX = 44
"""About this many pixels per edge label on a numeric axis."""


@dataclass
class Bar:
    label: str
    reference: int
    current: int
    reference_share: float
    current_share: float
    unseen: bool = False


@dataclass
class Histogram:
    """Both sides of a column's histogram as bars on one scale, ready for SVG."""

    kind: str
    bars: list[Bar]
    reference_rows: int
    current_rows: int
    reference_nulls: int
    current_nulls: int
    top: float
    ticks: list[tuple[float, str]]
    """Axis labels at positions counted in bars: edges between bars, or a category's name."""
    width: int = HIST_W
    height: int = HIST_H
    pad: int = HIST_PAD
    axis: int = HIST_AXIS
    top_margin: int = HIST_TOP
    """Room above the tallest bar for the scale's label."""

    @property
    def bar_width(self) -> float:
        return (self.width - 2 * self.pad) / max(len(self.bars), 1)

    def bar_height(self, share: float) -> float:
        """The height of a bar for ``share``, on the scale both sides share."""
        return 0.0 if self.top <= 0 else round(
            share / self.top * (self.height - self.top_margin), 1)

    def x(self, position: float) -> float:
        """The x coordinate of a position counted in bars."""
        return round(self.pad + position * self.bar_width, 1)


def _edge(value: float) -> str:
    return f"{value:.4g}"


def histogram_view(found: dict[str, Any], *, width: int = HIST_W,
                   height: int = HIST_H) -> Histogram:
    """``side_by_side``'s answer as bars: shares of each side's values, one scale.

    A side without values (a window without predictions, a version shown
    alone) has zero-height bars and does not change the scale.
    """
    ref, cur = found["reference"], found["current"]
    if found["kind"] == "numeric":
        edges = found["edges"]
        bounds = ["-inf", *map(_edge, edges), "inf"]
        labels = ([f"[{a}, {b})" for a, b in itertools.pairwise(bounds)] if edges
                  else ["all values"])
        unseen: set[str] = set()
        step = -(-len(edges) * LABEL_PX // width) or 1
        ticks = [(float(i), _edge(e)) for i, e in enumerate(edges, 1) if (i - 1) % step == 0]
    else:
        labels = [str(c) for c in found["categories"]]
        unseen = {str(c) for c in found.get("unseen", [])}
        chars = max(int(width / max(len(labels), 1) / 6.5), 3)
        ticks = [(i + 0.5, c if len(c) <= chars else c[:chars - 1] + "…")
                 for i, c in enumerate(labels)]
    ref_total, cur_total = sum(ref) or 1, sum(cur) or 1
    bars = [Bar(label, r, c, r / ref_total, c / cur_total, label in unseen)
            for label, r, c in zip(labels, ref, cur)]
    top = max([b.reference_share for b in bars] + [b.current_share for b in bars] + [0.0])
    return Histogram(found["kind"], bars, found["reference_rows"], found["current_rows"],
                     found["reference_nulls"], found["current_nulls"], top, ticks,
                     width=width, height=height)


templates.env.filters.update(share=lambda value: f"{value:.1%}")
