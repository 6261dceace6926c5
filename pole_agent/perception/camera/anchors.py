"""SSD anchors, generated as MediaPipe's ``SsdAnchorsCalculator`` does, and the options of the
shipped person detector (``pose_detection.tflite``).

A single-shot detector predicts, for every anchor, offsets from the anchor's centre (and size) and
a score. The anchors are not in the model file: they are a grid per feature map, one feature map
per stride, made from the options below. Getting one option wrong shifts every box, so each one is
written out and documented (docs/camera.md, "The person detector").

Algorithm (per layer, in order): consecutive layers with the same stride share one feature map of
``ceil(input / stride)`` cells per side; each such layer adds, at every cell, one anchor per aspect
ratio at its scale, plus (if ``interpolated_scale_aspect_ratio`` > 0) one at the geometric mean of
its scale and the next layer's. Anchor centres are ``(cell + offset) / cells``, row by row, anchors
of a cell together. With ``fixed_anchor_size`` every anchor's width and height are 1 (the model
then predicts sizes in input pixels directly, divided by the decoder's scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class SsdAnchorOptions:
    """The fields of MediaPipe's ``SsdAnchorsCalculatorOptions`` that shape the anchors."""

    input_size_width: int
    input_size_height: int
    num_layers: int
    strides: tuple[int, ...]
    min_scale: float
    max_scale: float
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = False
    fixed_anchor_size: bool = False

    def __post_init__(self) -> None:
        if len(self.strides) != self.num_layers:
            raise ValueError(f"{self.num_layers} layers need as many strides, got {self.strides}")
        if min(self.strides) <= 0 or self.input_size_width <= 0 or self.input_size_height <= 0:
            raise ValueError("strides and input sizes must be positive")


POSE_DETECTION_ANCHORS = SsdAnchorOptions(
    # The model's input tensor is 224 x 224 RGB (the frame letterboxed into it).
    input_size_width=224,
    input_size_height=224,
    # Five layers: strides 8, 16, 32, 32, 32 give feature maps of 28x28, 14x14 and 7x7 cells;
    # the three stride-32 layers share the 7x7 map.
    num_layers=5,
    strides=(8, 16, 32, 32, 32),
    # Scales (fraction of the input) from 0.1484375 (33 px) to 0.75 (168 px): unused when
    # fixed_anchor_size is set, but they decide how many anchors each cell has.
    min_scale=0.1484375,
    max_scale=0.75,
    # Anchor centres in the middle of each cell.
    anchor_offset_x=0.5,
    anchor_offset_y=0.5,
    # One aspect ratio (square), plus the interpolated-scale anchor (ratio 1.0, MediaPipe's
    # default): 2 anchors per cell per layer. 28*28*2 + 14*14*2 + 7*7*6 = 2254 anchors.
    aspect_ratios=(1.0,),
    interpolated_scale_aspect_ratio=1.0,
    reduce_boxes_in_lowest_layer=False,
    # Every anchor is 1 x 1: the model's box sizes are absolute (in input pixels / 224).
    fixed_anchor_size=True,
)
"""From MediaPipe's ``mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt`` (v0.10.21)."""


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) / 2
    return min_scale + (max_scale - min_scale) * index / (count - 1)


def generate_anchors(options: SsdAnchorOptions) -> npt.NDArray[np.float32]:
    """Anchors as an (n, 4) array of (x_center, y_center, width, height), normalised."""
    rows: list[tuple[float, float, float, float]] = []
    count = len(options.strides)
    layer = 0
    while layer < options.num_layers:
        heights: list[float] = []
        widths: list[float] = []
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        while last < count and options.strides[last] == options.strides[layer]:
            scale = _scale(options.min_scale, options.max_scale, last, count)
            if last == 0 and options.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for ratio in options.aspect_ratios:
                    ratios.append(ratio)
                    scales.append(scale)
                if options.interpolated_scale_aspect_ratio > 0:
                    following = (
                        1.0
                        if last == count - 1
                        else _scale(options.min_scale, options.max_scale, last + 1, count)
                    )
                    scales.append(math.sqrt(scale * following))
                    ratios.append(options.interpolated_scale_aspect_ratio)
            last += 1
        for ratio, scale in zip(ratios, scales, strict=True):
            root = math.sqrt(ratio)
            heights.append(scale / root)
            widths.append(scale * root)
        stride = options.strides[layer]
        cells_y = math.ceil(options.input_size_height / stride)
        cells_x = math.ceil(options.input_size_width / stride)
        for y in range(cells_y):
            for x in range(cells_x):
                cx = (x + options.anchor_offset_x) / cells_x
                cy = (y + options.anchor_offset_y) / cells_y
                for w, h in zip(widths, heights, strict=True):
                    if options.fixed_anchor_size:
                        rows.append((cx, cy, 1.0, 1.0))
                    else:
                        rows.append((cx, cy, w, h))
        layer = last
    return np.asarray(rows, dtype=np.float32).reshape(-1, 4)
