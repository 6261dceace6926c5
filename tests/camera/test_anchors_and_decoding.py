"""The person detector's arithmetic on arrays: anchors, decoding, scores, NMS, letterbox."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pole_agent.perception.camera.anchors import (
    POSE_DETECTION_ANCHORS,
    SsdAnchorOptions,
    generate_anchors,
)
from pole_agent.perception.camera.letterbox import Letterbox, letterbox, resize
from pole_agent.perception.camera.nms import hard_nms, iou, weighted_nms
from pole_agent.perception.camera.pose_detector import body_box, decode, sigmoid


def test_pose_anchors_are_the_three_grids_of_the_model() -> None:
    anchors = generate_anchors(POSE_DETECTION_ANCHORS)
    assert anchors.shape == (2254, 4)
    assert np.all(anchors[:, 2:] == 1.0)  # fixed_anchor_size
    # Stride 8: a 28x28 grid, two anchors per cell (ratio 1 and the interpolated scale).
    first = anchors[: 28 * 28 * 2].reshape(28, 28, 2, 4)
    assert np.allclose(first[..., 0, 0], first[..., 1, 0])
    assert np.allclose(first[0, :, 0, 0], (np.arange(28) + 0.5) / 28)
    assert np.allclose(first[:, 0, 0, 1], (np.arange(28) + 0.5) / 28)
    # Stride 16: 14x14, two per cell; the three stride-32 layers share one 7x7 map, six per cell.
    second = anchors[1568 : 1568 + 392].reshape(14, 14, 2, 4)
    assert np.allclose(second[3, 5, 0, :2], ((5 + 0.5) / 14, (3 + 0.5) / 14))
    third = anchors[1960:].reshape(7, 7, 6, 4)
    assert np.allclose(third[6, 2, :, 0], (2 + 0.5) / 7)
    assert np.allclose(third[6, 2, :, 1], (6 + 0.5) / 7)


def test_anchor_sizes_follow_the_scales_when_not_fixed() -> None:
    options = SsdAnchorOptions(
        input_size_width=64,
        input_size_height=32,
        num_layers=2,
        strides=(16, 32),
        min_scale=0.2,
        max_scale=0.8,
        aspect_ratios=(1.0, 2.0),
    )
    anchors = generate_anchors(options)
    # Layer 0: 4x2 cells (64/16 wide, 32/16 high), 3 anchors each; layer 1: 2x1 cells, 3 each.
    assert anchors.shape == (4 * 2 * 3 + 2 * 1 * 3, 4)
    w, h = anchors[0:3, 2], anchors[0:3, 3]
    interpolated = math.sqrt(0.2 * 0.8)
    assert np.allclose(w, [0.2, 0.2 * math.sqrt(2), interpolated])
    assert np.allclose(h, [0.2, 0.2 / math.sqrt(2), interpolated])
    last = anchors[-3:]
    assert np.allclose(last[:, 2], [0.8, 0.8 * math.sqrt(2), 1.0 * math.sqrt(0.8)])
    assert np.allclose(last[0, :2], (0.75, 0.5))
    with pytest.raises(ValueError, match="strides"):
        SsdAnchorOptions(
            input_size_width=8, input_size_height=8, num_layers=2, strides=(8,), min_scale=0.1,
            max_scale=0.2,
        )  # fmt: skip


def test_decode_puts_offsets_on_the_anchor_in_input_units() -> None:
    anchors = np.array([[0.25, 0.5, 1.0, 1.0]], dtype=np.float32)
    raw = np.zeros((1, 12), dtype=np.float32)
    raw[0, :4] = [22.4, -11.2, 44.8, 89.6]  # x, y offsets and w, h in 224-pixel units
    raw[0, 4:6] = [0.0, 112.0]  # keypoint 0: straight below the anchor by half the input
    boxes, points = decode(raw, anchors)
    cx, cy, w, h = 0.25 + 0.1, 0.5 - 0.05, 0.2, 0.4
    assert np.allclose(boxes[0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    assert np.allclose(points[0, 0], [0.25, 1.0])
    assert np.allclose(points[0, 1], [0.25, 0.5])


def test_sigmoid_is_clipped_and_never_overflows() -> None:
    logits = np.array([-1e9, -100.0, 0.0, 2.0, 1e9], dtype=np.float32)
    with np.errstate(all="raise"):
        scores = sigmoid(logits)
    assert scores[2] == pytest.approx(0.5)
    assert scores[3] == pytest.approx(1 / (1 + math.exp(-2)))
    assert scores[0] == scores[1] and scores[4] == pytest.approx(1.0)


def test_hard_nms_keeps_the_best_of_each_cluster() -> None:
    boxes = np.array(
        [[0, 0, 1, 1], [0.05, 0, 1.05, 1], [2, 2, 3, 3], [0.9, 0.9, 2, 2]], dtype=np.float32
    )
    scores = np.array([0.6, 0.9, 0.7, 0.5], dtype=np.float32)
    assert hard_nms(boxes, scores, 0.3) == [1, 2, 3]
    assert iou(boxes[0], boxes[2:3])[0] == 0.0


def test_weighted_nms_averages_the_cluster_by_score() -> None:
    boxes = np.array([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [5, 5, 6, 6]], dtype=np.float32)
    scores = np.array([0.75, 0.25, 0.5], dtype=np.float32)
    points = np.array([[[0, 0]], [[1, 1]], [[5, 5]]], dtype=np.float32)
    merged = weighted_nms(boxes, scores, points, 0.3)
    assert [round(s, 2) for s, _, _ in merged] == [0.75, 0.5]
    _, box, kps = merged[0]
    assert np.allclose(box, [0.025, 0, 1.025, 1])
    assert np.allclose(kps, [[0.25, 0.25]])


def test_body_box_spans_the_circle_and_stays_round_in_a_wide_frame() -> None:
    # Hips at the centre of a 200x100 frame, the circle's head point 40 px above them.
    points = np.array([[0.5, 0.5], [0.5, 0.1], [0, 0], [0, 0]], dtype=np.float32)
    box = body_box(points, 200, 100)
    assert box == pytest.approx((0.4, 0.1, 0.6, 0.9))


def test_letterbox_centres_the_frame_and_maps_points_back() -> None:
    frame = np.zeros((100, 200, 3), dtype=np.uint8)
    frame[:, :100] = 200  # left half bright
    image, pad = letterbox(frame, 224, 224)
    assert image.shape == (224, 224, 3)
    assert pad == Letterbox(left=0.0, top=56 / 224, right=0.0, bottom=56 / 224)
    assert np.all(image[:56] == 0) and np.all(image[-56:] == 0)
    assert image[112, 50, 0] == pytest.approx(200) and image[112, 170, 0] == pytest.approx(0)
    assert pad.to_frame(0.5, 0.5) == pytest.approx((0.5, 0.5))
    assert pad.to_frame(0.25, 56 / 224) == pytest.approx((0.25, 0.0))


def test_resize_averages_before_it_samples() -> None:
    # One-pixel stripes, averaged to grey when shrunk by 4, not aliased to black or white.
    frame = np.zeros((64, 64, 3), dtype=np.uint8)
    frame[:, ::2] = 255
    small = resize(frame, 16, 16)
    assert np.allclose(small, 127.5, atol=1)
    same = resize(frame, 64, 64)
    assert np.array_equal(same, frame.astype(np.float32))
