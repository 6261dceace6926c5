"""What a detector reports for one frame, and the ports detectors are written against.

A frame is an RGB ``uint8`` array of shape (height, width, 3) held in memory only. A detection's
box and keypoints are in normalised image coordinates (0..1 of the frame's width and height, origin
top left), so that they do not depend on the resolution the camera delivered: the calibration
multiplies them by the size of the image it was taken on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
"""An RGB image, (height, width, 3), uint8."""

Category = Literal["person", "vehicle", "other"]

#: COCO labels (and common synonyms) that are vehicles on a road, for SSD label maps.
VEHICLE_LABELS = frozenset({"car", "truck", "bus", "motorcycle", "motorbike", "van", "vehicle"})
PERSON_LABELS = frozenset({"person", "pedestrian"})


def category_of(label: str) -> Category:
    """Which kind of road user a detector's label is."""
    name = label.strip().lower()
    if name in PERSON_LABELS:
        return "person"
    if name in VEHICLE_LABELS:
        return "vehicle"
    return "other"


@dataclass(frozen=True, slots=True)
class Detection:
    """One object in one frame: ``box`` is (xmin, ymin, xmax, ymax), normalised, clipped to the
    frame; ``keypoints`` are the detector's own points (normalised (x, y)), empty if it has none."""

    label: str
    score: float
    box: tuple[float, float, float, float]
    keypoints: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        xmin, ymin, xmax, ymax = self.box
        if not all(math.isfinite(v) for v in self.box) or xmax < xmin or ymax < ymin:
            raise ValueError(f"not a box: {self.box}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in 0..1, got {self.score}")

    @property
    def category(self) -> Category:
        return category_of(self.label)

    @property
    def foot(self) -> tuple[float, float]:
        """The bottom centre of the box: where a standing person or a vehicle meets the road."""
        return (self.box[0] + self.box[2]) / 2, self.box[3]

    @property
    def head(self) -> tuple[float, float]:
        """The top centre of the box."""
        return (self.box[0] + self.box[2]) / 2, self.box[1]


class Detector(Protocol):
    """Finds people (and, with a capable model, vehicles) in one frame.

    ``detect`` reads the frame and returns its detections; it keeps no reference to the frame
    (privacy: docs/camera.md). ``labels`` is every label it can report, so that the wiring knows
    whether the camera can see vehicles. Not thread-safe: one thread calls it.
    """

    @property
    def labels(self) -> frozenset[str]: ...

    def detect(self, frame: Frame) -> list[Detection]: ...


class TensorSpec(Protocol):
    """One tensor of a loaded model (``pole_agent.drivers.tflite_runtime.TensorInfo``)."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    def quantise(self, values: npt.ArrayLike) -> npt.NDArray[Any]: ...

    def dequantise(self, values: npt.NDArray[Any]) -> npt.NDArray[np.float32]: ...


class TensorModel(Protocol):
    """A loaded TFLite model (``pole_agent.drivers.tflite_runtime.TfliteModel``): ``run`` takes
    the raw input tensors and returns copies of the raw outputs, in the model's tensor order."""

    @property
    def inputs(self) -> Sequence[TensorSpec]: ...

    @property
    def outputs(self) -> Sequence[TensorSpec]: ...

    def run(self, inputs: Sequence[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]: ...


class DetectorError(Exception):
    """A model that cannot serve as this detector (wrong tensors, bad label map); the message
    says which file and why."""
