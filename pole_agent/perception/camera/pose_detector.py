"""The shipped person detector: MediaPipe's BlazePose detector (``pose_detection.tflite``).

The model takes one 224 x 224 RGB image scaled to -1..1 and returns raw SSD outputs: for each of
2254 anchors (``anchors.POSE_DETECTION_ANCHORS``) 12 regressors and one score logit. Decoding
follows MediaPipe's ``TensorsToDetectionsCalculator`` with the pose graph's options (v0.10.21):

- regressors, x before y (``reverse_output_order``): box centre offset (x, y) and size (w, h),
  then four keypoints (x, y); each divided by 224 (``x_scale`` .. ``h_scale``) and, anchors being
  1 x 1, added to the anchor's centre (sizes taken as they are);
- score: the logit clipped to +-100 (``score_clipping_thresh``), then the sigmoid; anchors below
  ``min_score`` are dropped (MediaPipe uses 0.2; the agent's default is higher, docs/camera.md);
- weighted non-maximum suppression at IoU 0.3, then the letterbox removed.

The model's box is the person's *face*. Its keypoints describe the body (the BlazePose
"Vitruvian" circle): 0 mid-hip, 1 a point on the circle around the hips that encloses the whole
person, towards the head; 2 mid-shoulder, 3 the same for the upper body. The reported box is the
body: from the head end of the circle (keypoint 1) to the opposite end (the feet), as wide as
``BODY_WIDTH`` of the circle's radius, clipped to the frame.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pole_agent.perception.camera.anchors import POSE_DETECTION_ANCHORS, generate_anchors
from pole_agent.perception.camera.detection import (
    Detection,
    DetectorError,
    Frame,
    TensorModel,
)
from pole_agent.perception.camera.letterbox import letterbox
from pole_agent.perception.camera.nms import weighted_nms

INPUT_SIZE: Final = 224
NUM_BOXES: Final = 2254
NUM_COORDS: Final = 12
NUM_KEYPOINTS: Final = 4
COORD_SCALE: Final = 224.0
SCORE_CLIP: Final = 100.0
NMS_IOU: Final = 0.3
BODY_WIDTH: Final = 0.5
"""Half-width of the reported body box, as a fraction of the body circle's radius."""
BODY_REACH: Final = 1.0
"""How far from the hips the body box reaches, as a fraction of the circle's radius: the circle
encloses the person, so about 1 (a standing person's hips are near the middle of their height)."""
LABEL: Final = "person"


def sigmoid(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    clipped = np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)
    return np.asarray(0.5 * (1.0 + np.tanh(clipped / 2)), dtype=np.float32)  # overflow-free


def decode(
    raw_boxes: npt.NDArray[np.float32], anchors: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Raw regressors (n, 12) and anchors (n, 4: x, y, w, h) to boxes (n, 4: xmin, ymin, xmax,
    ymax) and keypoints (n, 4, 2: x, y), normalised to the model's input."""
    if raw_boxes.shape != (anchors.shape[0], NUM_COORDS):
        raise ValueError(f"expected ({anchors.shape[0]}, {NUM_COORDS}), got {raw_boxes.shape}")
    ax, ay, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    cx = raw_boxes[:, 0] / COORD_SCALE * aw + ax
    cy = raw_boxes[:, 1] / COORD_SCALE * ah + ay
    w = raw_boxes[:, 2] / COORD_SCALE * aw
    h = raw_boxes[:, 3] / COORD_SCALE * ah
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    points = raw_boxes[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) / COORD_SCALE
    points = points * np.stack([aw, ah], axis=1)[:, None, :] + np.stack([ax, ay], axis=1)[:, None]
    return boxes.astype(np.float32), points.astype(np.float32)


def body_box(
    points: npt.NDArray[np.float32], width: int, height: int
) -> tuple[float, float, float, float]:
    """The person's box (normalised, clipped) from keypoints 0 (hips) and 1 (circle, headwards),
    measured in pixels so that the circle stays round in a frame that is not square."""
    hip = points[0] * (width, height)
    top = points[1] * (width, height)
    axis = top - hip
    radius = float(math.hypot(*axis))
    if radius == 0:
        return (0.0, 0.0, 0.0, 0.0)
    head = hip + axis * BODY_REACH
    feet = hip - axis * BODY_REACH
    half = radius * BODY_WIDTH
    xmin = min(head[0], feet[0]) - half
    xmax = max(head[0], feet[0]) + half
    ymin = min(head[1], feet[1])
    ymax = max(head[1], feet[1])

    def clip(value: float, size: int) -> float:
        return min(1.0, max(0.0, value / size))

    return (clip(xmin, width), clip(ymin, height), clip(xmax, width), clip(ymax, height))


class PoseDetector:
    """Finds people with ``pose_detection.tflite`` (implements ``Detector``)."""

    def __init__(self, model: TensorModel, *, min_score: float = 0.5, max_people: int = 20):
        if not 0.0 < min_score < 1.0:
            raise ValueError(f"min_score must be in (0, 1), got {min_score}")
        inputs = list(model.inputs)
        if len(inputs) != 1 or tuple(inputs[0].shape) != (1, INPUT_SIZE, INPUT_SIZE, 3):
            found = [list(t.shape) for t in inputs]
            raise DetectorError(f"not the pose detector: input tensors {found}, want [1,224,224,3]")
        shapes = [tuple(t.shape) for t in model.outputs]
        try:
            self._boxes_at = shapes.index((1, NUM_BOXES, NUM_COORDS))
            self._scores_at = shapes.index((1, NUM_BOXES, 1))
        except ValueError:
            raise DetectorError(
                f"not the pose detector: output tensors {[list(s) for s in shapes]}, want "
                f"[1,{NUM_BOXES},{NUM_COORDS}] and [1,{NUM_BOXES},1]"
            ) from None
        self._model = model
        self._input = inputs[0]
        self._anchors = generate_anchors(POSE_DETECTION_ANCHORS)
        self.min_score = min_score
        self.max_people = max_people

    @property
    def labels(self) -> frozenset[str]:
        return frozenset({LABEL})

    def detect(self, frame: Frame) -> list[Detection]:
        image, pad = letterbox(frame, INPUT_SIZE, INPUT_SIZE)
        tensor = (image / 127.5 - 1.0)[None].astype(np.float32)
        outputs = self._model.run([self._input.quantise(tensor)])
        raw_boxes = self._model.outputs[self._boxes_at].dequantise(outputs[self._boxes_at])[0]
        logits = self._model.outputs[self._scores_at].dequantise(outputs[self._scores_at])[0, :, 0]
        return self.postprocess(raw_boxes, logits, pad, frame.shape[1], frame.shape[0])

    def postprocess(
        self,
        raw_boxes: npt.NDArray[np.float32],
        logits: npt.NDArray[np.float32],
        pad: Any,
        width: int,
        height: int,
    ) -> list[Detection]:
        """Detections from the raw outputs of one frame (``pad``: the ``Letterbox``)."""
        scores = sigmoid(logits)
        keep = scores >= self.min_score
        if not keep.any():
            return []
        boxes, points = decode(raw_boxes[keep], self._anchors[keep])
        found: list[Detection] = []
        for score, _face, kps in weighted_nms(
            boxes, scores[keep], points, NMS_IOU, self.max_people
        ):
            frame_points = np.stack([pad.xs_to_frame(kps[:, 0]), pad.ys_to_frame(kps[:, 1])], 1)
            box = body_box(frame_points, width, height)
            if box[2] <= box[0] or box[3] <= box[1]:
                continue  # the body is entirely outside the frame
            found.append(
                Detection(
                    label=LABEL,
                    score=min(1.0, max(0.0, score)),
                    box=box,
                    keypoints=tuple((float(x), float(y)) for x, y in frame_points),
                )
            )
        return found
