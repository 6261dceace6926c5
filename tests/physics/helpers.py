"""Helpers shared by the physics tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PointTarget:
    """One scatterer moving in a straight line from ``start`` at ``velocity`` (ground frame)."""

    start: tuple[float, float, float]
    velocity: tuple[float, float, float]
    rcs_m2: float = 1.0

    def scatterers(self, times: FloatArray) -> tuple[FloatArray, FloatArray]:
        positions = np.asarray(self.start) + np.outer(times, self.velocity)
        return positions[None, :, :], np.full((1, 1), self.rcs_m2)
