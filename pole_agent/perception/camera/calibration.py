"""Ground-plane calibration: from image points to road coordinates and heights in metres.

At commissioning the installer marks four or more points on the road in the camera's image (kerb
corners, crosswalk stripe ends) and measures where each is on the road, in metres, in the pole's
road frame (docs/camera.md, "Calibration"): ``x`` along the road, positive towards where
approaching traffic comes from; ``y`` across it; the origin at the pole's foot; any right- or
left-handed choice works.

- The homography H (road plane -> image) is the direct linear transform of those points, with
  Hartley normalisation; collinear points are refused, and with more than four points every
  point's reprojection error is checked so that one mistyped coordinate is named, not averaged in.
- To measure heights the camera itself is recovered from H: with square pixels, the principal
  point at the image centre and no lens distortion, H = K [r1 r2 t] up to scale, and the two
  conditions r1 . r2 = 0 and |r1| = |r2| give the focal length (``focal_px`` in the config
  overrides it when the lens is known). Then r3 is the road's normal, pointing to the camera
  (which makes the choice of handedness irrelevant), and P = K [r1 r2 r3 t].
- A box's bottom centre is its foot point: H^-1 puts it on the road. Its top centre is the head:
  the height h is the one for which P projects (x, y, h) onto it (least squares over both image
  coordinates).

All image coordinates are pixels of an image of ``image_size``; detections are normalised, so
they are multiplied by it and the camera may deliver frames of any size with the same aspect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]

MAX_REPROJECTION_FRACTION = 0.02
"""A point whose reprojection error exceeds this share of the image diagonal is refused."""


class CalibrationError(ValueError):
    """Points that do not make a calibration; the message says which and why."""


@dataclass(frozen=True, slots=True)
class GroundPoint:
    """One calibration point: where it is in the image (pixels) and on the road (metres)."""

    image: tuple[float, float]
    road: tuple[float, float]


def _normaliser(points: Matrix) -> Matrix:
    centre = points.mean(axis=0)
    spread = float(np.sqrt(((points - centre) ** 2).sum(axis=1)).mean())
    scale = math.sqrt(2) / spread if spread > 0 else 1.0
    return np.array(
        [[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1]], dtype=float
    )


def homography(src: Matrix, dst: Matrix) -> Matrix:
    """H with dst ~ H src, from (n, 2) point arrays (n >= 4), normalised DLT."""
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 4:
        raise CalibrationError(f"need at least 4 point pairs, got {src.shape[0]}")
    ts, td = _normaliser(src), _normaliser(dst)
    s = (ts @ np.c_[src, np.ones(len(src))].T).T
    d = (td @ np.c_[dst, np.ones(len(dst))].T).T
    rows = []
    for (x, y, _), (u, v, _) in zip(s, d, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, sing, vt = np.linalg.svd(np.asarray(rows, dtype=float))
    sing = np.concatenate([sing, np.zeros(9 - len(sing))])  # four points give 8 rows for 9
    # A well-posed set leaves exactly one null direction: the second smallest singular value
    # must stand clear of zero (three collinear points of four make it vanish).
    if sing[-2] < 1e-6 * sing[0]:
        raise CalibrationError("the points are degenerate: at least three of them are collinear")
    h = vt[-1].reshape(3, 3)
    result = np.linalg.inv(td) @ h @ ts
    return np.asarray(result / result[2, 2], dtype=float)


def _apply(h: Matrix, points: Matrix) -> Matrix:
    q = (h @ np.c_[points, np.ones(len(points))].T).T
    return np.asarray(q[:, :2] / q[:, 2:3], dtype=float)


def estimate_focal(h: Matrix, centre: tuple[float, float]) -> float | None:
    """The focal length (pixels) that makes H's first two columns orthogonal and equally long
    (least squares of both conditions); None when the points cannot tell it."""
    shift = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1]], dtype=float)
    m = shift @ h
    m1, m2 = m[:, 0], m[:, 1]
    # In w = 1/f^2:  (m1x m2x + m1y m2y) w + m1z m2z = 0
    #          and (|m1xy|^2 - |m2xy|^2) w + m1z^2 - m2z^2 = 0
    a = np.array([m1[0] * m2[0] + m1[1] * m2[1], m1[0] ** 2 + m1[1] ** 2 - m2[0] ** 2 - m2[1] ** 2])
    b = np.array([m1[2] * m2[2], m1[2] ** 2 - m2[2] ** 2])
    denominator = float(a @ a)
    if denominator == 0:
        return None
    w = -float(a @ b) / denominator
    if not w > 0:
        return None
    return 1.0 / math.sqrt(w)


class GroundCalibration:
    """The road plane as the camera sees it (see the module's docstring)."""

    def __init__(
        self,
        points: Sequence[GroundPoint],
        image_size: tuple[int, int],
        *,
        focal_px: float | None = None,
    ) -> None:
        width, height = image_size
        if width <= 0 or height <= 0:
            raise CalibrationError(f"image_size must be positive, got {image_size}")
        if len(points) < 4:
            raise CalibrationError(f"need at least 4 points, got {len(points)}")
        self.image_size = (int(width), int(height))
        road = np.array([p.road for p in points], dtype=float)
        image = np.array([p.image for p in points], dtype=float)
        if not (np.all(np.isfinite(road)) and np.all(np.isfinite(image))):
            raise CalibrationError("every coordinate must be a finite number")
        try:
            with np.errstate(divide="raise", invalid="raise", over="raise"):
                self._solve(points, road, image, focal_px)
        except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError):
            raise CalibrationError(
                "the points are degenerate (repeated or in a line, in the image or on the road)"
            ) from None
        if not all(np.all(np.isfinite(m)) for m in (self.h, self.h_inv, self.p)):
            raise CalibrationError("the points are degenerate: the solution is not finite")

    def _solve(
        self,
        points: Sequence[GroundPoint],
        road: Matrix,
        image: Matrix,
        focal_px: float | None,
    ) -> None:
        width, height = self.image_size
        self.h = homography(road, image)
        if np.linalg.cond(self.h) > 1e12:
            raise np.linalg.LinAlgError("singular homography")
        self.h_inv = np.linalg.inv(self.h)
        errors = np.hypot(*(_apply(self.h, road) - image).T)
        self.reprojection_px = tuple(float(e) for e in errors)
        limit = MAX_REPROJECTION_FRACTION * math.hypot(width, height)
        if len(points) >= 5 and errors.max() > limit:
            # One wrong point pulls the least-squares fit towards it, and the largest residual
            # may then be another's: the culprit is the point without which the others agree
            # best; how far it is from where they place it is what the message says.
            spread = np.full(len(points), np.inf)
            apart = np.zeros(len(points))
            for i in range(len(points)):
                keep = np.arange(len(points)) != i
                try:
                    h_i = homography(road[keep], image[keep])
                except CalibrationError:
                    continue
                spread[i] = np.hypot(*(_apply(h_i, road[keep]) - image[keep]).T).max()
                apart[i] = np.hypot(*(_apply(h_i, road[i : i + 1]) - image[i : i + 1]).T)[0]
            worst = int(np.argmin(spread))
            raise CalibrationError(
                f"point {worst + 1} (image {points[worst].image}, road {points[worst].road}) is "
                f"{apart[worst]:.0f} px from where the other points place it: check its "
                "coordinates"
            )
        centre = (width / 2, height / 2)
        focal = focal_px if focal_px is not None else estimate_focal(self.h, centre)
        if focal is None or not focal > 0:
            raise CalibrationError(
                "these points cannot tell the camera's focal length (is the camera looking "
                "straight down, or are the points too close together?): give focal_px"
            )
        self.focal_px = float(focal)
        self.k = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], dtype=float)
        b = np.linalg.inv(self.k) @ self.h
        scale = (np.linalg.norm(b[:, 0]) + np.linalg.norm(b[:, 1])) / 2
        r1, r2, t = b[:, 0] / scale, b[:, 1] / scale, b[:, 2] / scale
        if (r1 * road[:, :1].mean() + r2 * road[:, 1:].mean() + t)[2] < 0:
            r1, r2, t = -r1, -r2, -t  # the road must be in front of the camera
        normal = np.cross(r1, r2)
        r3 = normal if float(normal @ t) < 0 else -normal  # points from the road to the camera
        self.r = np.column_stack([r1, r2, r3 / np.linalg.norm(r3)])
        self.t = t
        self.p = self.k @ np.column_stack([self.r, t])
        self.camera_height_m = float(-(self.r[:, 2] @ t))
        """The camera's height above the road plane."""

    # -- points ------------------------------------------------------------------------------

    def _pixels(self, uv: tuple[float, float]) -> tuple[float, float]:
        return uv[0] * self.image_size[0], uv[1] * self.image_size[1]

    def image_to_road(self, uv: tuple[float, float]) -> tuple[float, float] | None:
        """A normalised image point on the road, in road metres; None above the horizon."""
        u, v = self._pixels(uv)
        q = self.h_inv @ np.array([u, v, 1.0])
        if abs(q[2]) < 1e-12:
            return None
        x, y = float(q[0] / q[2]), float(q[1] / q[2])
        depth = (self.r[:, 0] * x + self.r[:, 1] * y + self.t)[2]
        if depth <= 0:
            return None
        return x, y

    def road_to_image(self, x: float, y: float, z: float = 0.0) -> tuple[float, float] | None:
        """Where a road point (``z`` metres up) is in the image, normalised; None if behind."""
        q = self.p @ np.array([x, y, z, 1.0])
        if q[2] <= 0:
            return None
        return float(q[0] / q[2]) / self.image_size[0], float(q[1] / q[2]) / self.image_size[1]

    def height_m(self, foot: tuple[float, float], head: tuple[float, float]) -> float | None:
        """Height of something standing at ``foot`` whose top is at ``head`` (normalised image
        points); None when the foot is not on the visible road."""
        ground = self.image_to_road(foot)
        if ground is None:
            return None
        u, v = self._pixels(head)
        q0 = self.p @ np.array([ground[0], ground[1], 0.0, 1.0])
        q3 = self.p[:, 2]
        a = np.array([u * q3[2] - q3[0], v * q3[2] - q3[1]])
        b = np.array([q0[0] - u * q0[2], q0[1] - v * q0[2]])
        denominator = float(a @ a)
        if denominator == 0:
            return None
        return float(a @ b) / denominator
