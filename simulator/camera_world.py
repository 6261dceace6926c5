"""The school zone as a camera on the pole sees it: frames rendered from the simulator's world.

``CameraPose`` is a pinhole camera (square pixels, principal point at the centre, no distortion)
placed in the world's ground frame (``simulator.pedestrians``: the pole at the origin, x along the
road towards approaching traffic, y across it, z up). ``CameraWorld`` draws, with numpy alone, the
road plan (carriageway, kerbs, crosswalk stripes, lane marks, footway, sky), each vehicle as a
box (its silhouette: the convex hull of its eight projected corners) and each person as an upright
panel of their height, far to near. People and vehicles are painted in *key colours* (magenta,
cyan) that ``KeyColourDetector`` finds again in the pixels: a detector for simulator frames that
reads the image (video compression included), not the world, so the camera path's geometry,
tracking and warnings can be tested end to end.

Be clear about what this is not: the real person detector (``pose_detection.tflite``) does not
find these drawn panels (it was trained on photographs); it is tested on real photographs
(tests/camera). ``person_sprite`` pastes a real photograph of a person (e.g. scikit-image's
astronaut) in place of each panel, for runs of the real detector through the whole path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pole_agent.drivers.camera import write_video
from pole_agent.perception.camera.detection import Detection, Frame
from simulator.pedestrians import Pedestrian, RoadLayout
from simulator.world import Vehicle, World

FloatArray = npt.NDArray[np.float64]

SKY = (170, 200, 230)
ROAD = (80, 80, 86)
MARK = (228, 228, 222)
FOOTWAY = (158, 148, 132)
KERB = (190, 190, 184)
PERSON_KEY = (255, 0, 255)
VEHICLE_KEY = (0, 255, 255)
VEHICLE_SIZE_M = (4.4, 1.8, 1.5)
"""Length, width, height of a drawn car."""
PERSON_WIDTH = 0.28
"""Width of a person's panel, as a fraction of their height."""


@dataclass(frozen=True)
class CameraPose:
    """Where the camera is and where it looks: ``yaw_deg`` counter-clockwise from +x in the
    ground plane, ``pitch_deg`` down from the horizon, ``roll_deg`` about the line of sight."""

    position: tuple[float, float, float] = (0.0, 0.0, 4.0)
    yaw_deg: float = -15.0
    pitch_deg: float = 18.0
    roll_deg: float = 0.0
    focal_px: float = 450.0
    width: int = 640
    height: int = 360

    @property
    def rotation(self) -> FloatArray:
        """World-to-camera rotation (camera axes: x right, y down, z forward)."""
        yaw, pitch, roll = (math.radians(a) for a in (self.yaw_deg, self.pitch_deg, self.roll_deg))
        forward = np.array(
            [math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), -math.sin(pitch)]
        )
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        down = np.cross(forward, right)
        c, s = math.cos(roll), math.sin(roll)
        return np.vstack([c * right + s * down, -s * right + c * down, forward])

    @property
    def intrinsics(self) -> FloatArray:
        f = self.focal_px
        return np.array([[f, 0, self.width / 2], [0, f, self.height / 2], [0, 0, 1.0]])

    @property
    def projection(self) -> FloatArray:
        r = self.rotation
        t = -r @ np.asarray(self.position, dtype=float)
        return np.asarray(self.intrinsics @ np.column_stack([r, t]), dtype=float)

    def project(self, points: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(n, 3) world points to (n, 2) pixels and their (n,) depths."""
        q = (self.projection @ np.c_[points, np.ones(len(points))].T).T
        depth = q[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            pixels = q[:, :2] / depth[:, None]
        return pixels, depth

    def calibration_points(
        self, road_points: list[tuple[float, float]]
    ) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """(image pixel, road point) pairs, as an installer would mark them."""
        pts = np.array([[x, y, 0.0] for x, y in road_points])
        pixels, depth = self.project(pts)
        if np.any(depth <= 0):
            raise ValueError("a calibration point is behind the camera")
        return [
            ((float(u), float(v)), (x, y))
            for (u, v), (x, y) in zip(pixels, road_points, strict=True)
        ]


def _fill_convex(image: Frame, polygon: FloatArray, colour: tuple[int, int, int]) -> None:
    """Fill a convex polygon (k, 2 pixel vertices, any winding), clipped to the image."""
    h, w = image.shape[:2]
    x0 = max(0, math.floor(polygon[:, 0].min()))
    x1 = min(w, math.ceil(polygon[:, 0].max()) + 1)
    y0 = max(0, math.floor(polygon[:, 1].min()))
    y1 = min(h, math.ceil(polygon[:, 1].max()) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    px, py = xs + 0.5, ys + 0.5
    inside_pos = np.ones(px.shape, dtype=bool)
    inside_neg = np.ones(px.shape, dtype=bool)
    for i in range(len(polygon)):
        ax, ay = polygon[i]
        bx, by = polygon[(i + 1) % len(polygon)]
        cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
        inside_pos &= cross >= 0
        inside_neg &= cross <= 0
    image[y0:y1, x0:x1][inside_pos | inside_neg] = colour


def _hull(points: FloatArray) -> FloatArray:
    """Convex hull (Andrew's monotone chain) of (n, 2) points."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) <= 2:
        return np.asarray(pts, dtype=float)

    def half(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in seq:
            while (
                len(out) >= 2
                and (
                    (out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                    - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])
                )
                <= 0
            ):
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=float)


@dataclass
class CameraWorld:
    """Renders the world from a camera pose (see the module's docstring)."""

    world: World
    pose: CameraPose = field(default_factory=CameraPose)
    person_sprite: Frame | None = None
    _background: Frame | None = None

    @property
    def layout(self) -> RoadLayout:
        return self.world.layout

    def background(self) -> Frame:
        """The empty road (computed once): each pixel's ray met with the ground plane."""
        if self._background is not None:
            return self._background
        pose, layout = self.pose, self.layout
        vs, us = np.mgrid[0 : pose.height, 0 : pose.width]
        rays = np.stack([us + 0.5, vs + 0.5, np.ones_like(us, dtype=float)], axis=-1)
        world_rays = rays @ np.linalg.inv(pose.intrinsics).T @ pose.rotation
        cz = pose.position[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = -cz / world_rays[..., 2]
        ground = s > 0
        x = pose.position[0] + s * world_rays[..., 0]
        y = pose.position[1] + s * world_rays[..., 1]
        image = np.empty((pose.height, pose.width, 3), dtype=np.uint8)
        image[:] = SKY
        near, far = layout.kerb_y_m, layout.far_kerb_y_m
        carriageway = ground & (y < near) & (y >= far)
        image[ground & ~carriageway] = FOOTWAY
        image[carriageway] = ROAD
        kerb = ground & ((np.abs(y - near) < 0.12) | (np.abs(y - far) < 0.12))
        image[kerb] = KERB
        crossing = np.abs(x - layout.crosswalk_x_m) <= layout.crosswalk_width_m / 2
        stripes = (np.floor((y - far) / 0.5) % 2 == 0) & crossing & carriageway
        image[stripes] = MARK
        centre = far + layout.lane_width_m * np.arange(1, layout.lanes)
        for line in centre:
            dash = (np.abs(y - line) < 0.08) & (np.floor(x / 3.0) % 2 == 0) & ~crossing
            image[dash & carriageway] = MARK
        self._background = image
        return image

    def render(self, t: float) -> Frame:
        """The frame at simulated time ``t`` (RGB, uint8)."""
        image = self.background().copy()
        shapes: list[tuple[float, Pedestrian | Vehicle]] = []
        cam = np.asarray(self.pose.position)
        for mover in self.world.present_at(t):
            if isinstance(mover, Pedestrian | Vehicle):
                x, y = self._ground_xy(mover, t)
                shapes.append((math.hypot(x - cam[0], y - cam[1]), mover))
        for _, mover in sorted(shapes, key=lambda item: -item[0]):
            if isinstance(mover, Vehicle):
                self._draw_vehicle(image, mover, t)
            else:
                self._draw_person(image, mover, t)
        return image

    def _ground_xy(self, mover: Pedestrian | Vehicle, t: float) -> tuple[float, float]:
        if isinstance(mover, Vehicle):
            p = self.world.vehicle_path(mover, t).position(t)
            return float(p[0]), float(p[1])
        return mover.position(t)

    def _draw_vehicle(self, image: Frame, vehicle: Vehicle, t: float) -> None:
        path = self.world.vehicle_path(vehicle, t)
        centre = path.position(t)
        length, width, height = VEHICLE_SIZE_M
        fwd = path.forward
        side = np.array([-fwd[1], fwd[0], 0.0])
        corners = np.array(
            [
                centre + a * fwd * length / 2 + b * side * width / 2 + np.array([0, 0, z])
                for a in (-1, 1)
                for b in (-1, 1)
                for z in (0.0, height)
            ]
        )
        pixels, depth = self.pose.project(corners)
        if np.any(depth <= 0.1):
            return
        _fill_convex(image, _hull(pixels), VEHICLE_KEY)

    def person_corners(self, person: Pedestrian, t: float) -> FloatArray | None:
        """The person's panel as four pixel corners (bottom-left, bottom-right, top-right,
        top-left), facing the camera; None when behind it."""
        x, y = person.position(t)
        cam = np.asarray(self.pose.position)
        view = np.array([x - cam[0], y - cam[1], 0.0])
        norm = float(np.linalg.norm(view))
        across = np.array([-view[1], view[0], 0.0]) / norm if norm > 0 else np.array([0, 1.0, 0])
        half = across * person.height_m * PERSON_WIDTH / 2
        base = np.array([x, y, 0.0])
        top = np.array([0, 0, person.height_m])
        corners = np.array([base - half, base + half, base + half + top, base - half + top])
        pixels, depth = self.pose.project(corners)
        if np.any(depth <= 0.1):
            return None
        return pixels

    def _draw_person(self, image: Frame, person: Pedestrian, t: float) -> None:
        corners = self.person_corners(person, t)
        if corners is None:
            return
        if self.person_sprite is None:
            _fill_convex(image, corners, PERSON_KEY)
            return
        _paste(image, self.person_sprite, corners)

    def camera_section(self, source: str, **settings: Any) -> dict[str, Any]:
        """A ``[camera]`` config table for this pose and road, as an installer would commission
        it: calibration points at the kerb and crosswalk corners and further up the road (all
        inside the frame, as an installer can only mark what the snapshot shows)."""
        layout = self.layout
        near, far = layout.kerb_y_m, layout.far_kerb_y_m
        # The crosswalk's centre line and far edge at both kerbs, and both kerbs 20 m up the
        # road: in view of the default pose (the near edge is below the frame).
        x0 = layout.crosswalk_x_m
        x1 = layout.crosswalk_x_m + layout.crosswalk_width_m / 2
        road = [(x0, near), (x1, near), (x0, far), (x1, far), (20.0, near), (20.0, far)]
        marked = self.pose.calibration_points(road)
        if any(
            not (0 <= u < self.pose.width and 0 <= v < self.pose.height) for (u, v), _ in marked
        ):
            raise ValueError("a calibration point is outside the frame: choose another pose")
        points = [
            {"image": [round(u, 2), round(v, 2)], "road": [x, y]} for (u, v), (x, y) in marked
        ]
        return {
            "source": source,
            "calibration": {"image_size": [self.pose.width, self.pose.height], "points": points},
            "road": {
                "kerb_y_m": near,
                "far_kerb_y_m": far,
                "crossing_x_m": layout.crosswalk_x_m,
            },
            **settings,
        }

    def frames(self, start_s: float, duration_s: float, fps: float) -> Iterator[Frame]:
        for i in range(round(duration_s * fps)):
            yield self.render(start_s + i / fps)

    def write_video(self, path: Path, start_s: float, duration_s: float, fps: float) -> int:
        """Render ``duration_s`` from ``start_s`` into an MJPEG file read by the camera driver."""
        return write_video(path, self.frames(start_s, duration_s, fps), fps)


def _paste(image: Frame, sprite: Frame, corners: FloatArray) -> None:
    """``sprite`` scaled (nearest neighbour) into the upright box of ``corners``."""
    h, w = image.shape[:2]
    x0, x1 = corners[:, 0].min(), corners[:, 0].max()
    y0, y1 = corners[:, 1].min(), corners[:, 1].max()
    # Keep the sprite's aspect: as tall as the person, centred on them.
    height = y1 - y0
    width = height * sprite.shape[1] / sprite.shape[0]
    cx = (x0 + x1) / 2
    left, right = round(cx - width / 2), round(cx + width / 2)
    top, bottom = round(y0), round(y1)
    if right <= left or bottom <= top:
        return
    rows = np.clip(
        ((np.arange(top, bottom) - top + 0.5) * sprite.shape[0] / (bottom - top)).astype(int),
        0,
        sprite.shape[0] - 1,
    )
    cols = np.clip(
        ((np.arange(left, right) - left + 0.5) * sprite.shape[1] / (right - left)).astype(int),
        0,
        sprite.shape[1] - 1,
    )
    ys = slice(max(0, top), min(h, bottom))
    xs = slice(max(0, left), min(w, right))
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return  # entirely outside the frame
    rows = rows[ys.start - top : ys.stop - top]
    cols = cols[xs.start - left : xs.stop - left]
    if rows.size and cols.size:
        image[ys, xs] = sprite[rows][:, cols]


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int, int]]:
    """(row, start, stop) of every horizontal run of True pixels."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    diff = np.diff(padded, axis=1)
    starts = np.argwhere(diff == 1)
    stops = np.argwhere(diff == -1)
    return [(int(r), int(s), int(e)) for (r, s), (_, e) in zip(starts, stops, strict=True)]


def blobs(mask: npt.NDArray[np.bool_], min_pixels: int) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x0, y0, x1, y1, exclusive ends) of 8-connected blobs of ``mask``."""
    runs = _runs(mask)
    parent = list(range(len(runs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_row: dict[int, list[int]] = {}
    for i, (row, _, _) in enumerate(runs):
        by_row.setdefault(row, []).append(i)
    for i, (row, start, stop) in enumerate(runs):
        for j in by_row.get(row - 1, []):
            _, s2, e2 = runs[j]
            if s2 <= stop and start <= e2:  # touching, diagonals included
                parent[find(i)] = find(j)
    boxes: dict[int, list[int]] = {}
    for i, (row, start, stop) in enumerate(runs):
        root = find(i)
        box = boxes.setdefault(root, [start, row, stop, row + 1, 0])
        box[0], box[1] = min(box[0], start), min(box[1], row)
        box[2], box[3] = max(box[2], stop), max(box[3], row + 1)
        box[4] += stop - start
    return [(b[0], b[1], b[2], b[3]) for b in boxes.values() if b[4] >= min_pixels]


class KeyColourDetector:
    """Finds the simulator's key-coloured people and vehicles in a frame (implements the camera
    path's ``Detector``); tolerant of video compression (it thresholds hue and saturation)."""

    def __init__(self, min_pixels: int = 12, *, vehicles: bool = True) -> None:
        self.min_pixels = min_pixels
        self.vehicles = vehicles
        self.frames_seen = 0

    @property
    def labels(self) -> frozenset[str]:
        """People, and cars unless made people-only (like the shipped person detector)."""
        return frozenset({"person", "car"} if self.vehicles else {"person"})

    def detect(self, frame: Frame) -> list[Detection]:
        self.frames_seen += 1
        r, g, b = (frame[..., i].astype(np.int16) for i in range(3))
        found: list[Detection] = []
        h, w = frame.shape[:2]
        keys = [("person", (r > 170) & (b > 170) & (g < 100))]
        if self.vehicles:
            keys.append(("car", (g > 170) & (b > 170) & (r < 100)))
        for label, mask in keys:
            for x0, y0, x1, y1 in blobs(mask, self.min_pixels):
                found.append(Detection(label, 0.99, (x0 / w, y0 / h, x1 / w, y1 / h)))
        return found
