"""Percentiles and plain-text tables for the benchmarks' output."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table with the first column left-aligned and the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def paragraph(text: str, width: int = 100, indent: str = "") -> str:
    """Notes under a table, wrapped; ``indent`` starts the first line (e.g. a bullet)."""
    return textwrap.fill(
        text, width=width, initial_indent=indent, subsequent_indent=" " * len(indent)
    )


def save_figures(path: Path | None, figures: Mapping[str, Any]) -> None:
    """Write a benchmark's figures as JSON for ``bench.suite``'s table (nothing without a path)."""
    if path is not None:
        path.write_text(json.dumps(figures, indent=1, sort_keys=True), encoding="utf-8")
