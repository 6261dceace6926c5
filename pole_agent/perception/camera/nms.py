"""Non-maximum suppression: one box per object out of the many overlapping ones a detector gives.

``hard_nms`` keeps the best-scoring box and drops every box overlapping it by more than the
threshold (intersection over union), then repeats. ``weighted_nms`` (MediaPipe's ``WEIGHTED``
algorithm, used with the person detector) instead replaces the best box by the score-weighted mean
of it and the boxes it suppresses, keypoints included: the anchors around a person each see part
of them, and their mean is steadier from frame to frame than the single best one. Boxes are
(xmin, ymin, xmax, ymax) rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Boxes = npt.NDArray[np.float32]


def iou(box: npt.NDArray[np.floating], boxes: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Intersection over union of one box with each of ``boxes`` (0 where both are empty)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(union > 0, inter / union, 0.0)
    return np.asarray(result, dtype=np.float64)


def hard_nms(
    boxes: Boxes, scores: npt.NDArray[np.float32], threshold: float, max_out: int = 100
) -> list[int]:
    """Indices of the boxes kept, best score first."""
    order = list(np.argsort(-scores, kind="stable"))
    kept: list[int] = []
    while order and len(kept) < max_out:
        best = int(order[0])
        kept.append(best)
        rest = np.asarray(order[1:], dtype=np.int64)
        if rest.size == 0:
            break
        overlap = iou(boxes[best], boxes[rest])
        order = [int(i) for i in rest[overlap <= threshold]]
    return kept


def weighted_nms(
    boxes: Boxes,
    scores: npt.NDArray[np.float32],
    keypoints: npt.NDArray[np.float32],
    threshold: float,
    max_out: int = 100,
) -> list[tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
    """(score, box, keypoints) per object: the best box of each cluster with its score, its
    coordinates the score-weighted mean of the cluster's (boxes overlapping it by more than
    ``threshold``). ``keypoints`` is (n, k, 2); k may be 0."""
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out: list[tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]] = []
    while remaining.size and len(out) < max_out:
        best = int(remaining[0])
        overlap = iou(boxes[best], boxes[remaining])
        overlap[0] = 1.0  # a degenerate (empty) best box still forms its own cluster
        cluster = remaining[overlap > threshold]
        weights = scores[cluster].astype(np.float64)
        total = float(weights.sum())
        if total > 0:
            box = (boxes[cluster] * weights[:, None]).sum(axis=0) / total
            points = (keypoints[cluster] * weights[:, None, None]).sum(axis=0) / total
        else:
            box, points = boxes[best], keypoints[best]
        out.append(
            (float(scores[best]), box.astype(np.float32), np.asarray(points, dtype=np.float32))
        )
        remaining = remaining[overlap <= threshold]
    return out
