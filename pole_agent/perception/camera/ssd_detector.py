"""An installer's object detector: a TFLite SSD model with the standard post-processed outputs.

TensorFlow's object-detection exports (SSD MobileNet v1/v2, EfficientDet-Lite0..4 from Model
Maker) end in ``TFLite_Detection_PostProcess``, which gives four tensors: boxes ``[1, N, 4]``
(ymin, xmin, ymax, xmax, normalised), classes ``[1, N]`` (a class index, as a float), scores
``[1, N]`` and the count ``[1]`` of valid rows. Exports differ in the order of those tensors, so
they are told apart here by shape, then by name (``...:1`` classes, ``...:2`` scores in the TF1
naming; names containing "class" or "score"), then by value (class indices are whole numbers).

The input is the frame stretched to the model's size (these models are trained on stretched
images, not letterboxed ones): uint8 as it is, float scaled to -1..1, int8 through the tensor's
quantisation. Only people and road vehicles are reported (``detection.category_of``).

Label map (``label_map``): a text file, either one label per line (line i, from 0, is class i; a
first line ``???`` is the TF1 examples' background and is skipped) or ``<id> <label>`` per line
(Coral's ``coco_labels.txt``). Unknown class ids are reported as ``class-<id>`` and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pole_agent.perception.camera.detection import (
    Detection,
    DetectorError,
    Frame,
    TensorModel,
    TensorSpec,
    category_of,
)
from pole_agent.perception.camera.letterbox import resize

_ID_LINE = re.compile(r"^\s*(\d+)\s*[:\s]\s*(\S.*?)\s*$")


def parse_label_map(text: str, source: str = "<label map>") -> dict[int, str]:
    """Class id to label, from either label-map format (see the module's docstring)."""
    lines = [line.strip() for line in text.splitlines()]
    body = [line for line in lines if line and not line.startswith("#")]
    if not body:
        raise DetectorError(f"label map {source} has no labels")
    if all(_ID_LINE.match(line) for line in body):
        labels: dict[int, str] = {}
        for line in body:
            match = _ID_LINE.match(line)
            assert match is not None
            ident = int(match.group(1))
            if ident in labels:
                raise DetectorError(f"label map {source}: class {ident} is given twice")
            labels[ident] = match.group(2)
        return labels
    if lines and lines[0] == "???":
        lines = lines[1:]
    return {i: line for i, line in enumerate(lines) if line and line != "???"}


def read_label_map(path: Path) -> dict[int, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DetectorError(f"label map {path} is missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DetectorError(f"label map {path}: cannot read it: {err}") from None
    return parse_label_map(text, str(path))


def _whole(values: npt.NDArray[np.float32]) -> bool:
    return bool(np.all(np.abs(values - np.round(values)) < 1e-4))


def order_outputs(
    specs: Sequence[TensorSpec], arrays: Sequence[npt.NDArray[Any]] | None = None
) -> tuple[int, int, int, int] | None:
    """Indices of (boxes, classes, scores, count) among the output tensors; None when classes
    and scores cannot be told apart yet (every value a whole number: try the next frame)."""
    shapes = [tuple(s.shape) for s in specs]
    boxes = [i for i, s in enumerate(shapes) if len(s) == 3 and s[2] == 4]
    counts = [i for i, s in enumerate(shapes) if len(s) == 1 or (len(s) == 2 and s[1] == 1)]
    rows = [i for i, s in enumerate(shapes) if len(s) == 2 and s[1] > 1]
    if len(specs) != 4 or len(boxes) != 1 or len(counts) != 1 or len(rows) != 2:
        raise DetectorError(
            f"not an SSD post-processed model: output shapes {[list(s) for s in shapes]}; want "
            "boxes [1,N,4], classes [1,N], scores [1,N], count [1]"
        )
    a, b = rows
    names = [specs[a].name.lower(), specs[b].name.lower()]
    for first, second in ((0, 1), (1, 0)):
        if "class" in names[first] or "score" in names[second]:
            return boxes[0], rows[first], rows[second], counts[0]
    if all(n.startswith("tflite_detection_postprocess") for n in names):
        suffix = [n.rpartition(":")[2] for n in names]
        if sorted(suffix) == ["1", "2"]:
            return (boxes[0], a, b, counts[0]) if suffix[0] == "1" else (boxes[0], b, a, counts[0])
    if arrays is None:
        return None
    whole_a, whole_b = _whole(arrays[a]), _whole(arrays[b])
    if whole_a != whole_b:
        return (boxes[0], a, b, counts[0]) if whole_a else (boxes[0], b, a, counts[0])
    return None


def postprocess(  # noqa: PLR0917 - the four tensors of the model, as it gives them
    boxes: npt.NDArray[np.float32],
    classes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    count: int,
    labels: dict[int, str],
    min_score: float,
) -> list[Detection]:
    """Detections of people and vehicles from the four post-processed arrays of one frame
    (batch dimension removed; boxes as ymin, xmin, ymax, xmax)."""
    n = max(0, min(int(count), boxes.shape[0], classes.shape[0], scores.shape[0]))
    found: list[Detection] = []
    for i in range(n):
        score = float(scores[i])
        if not score >= min_score or not np.all(np.isfinite(boxes[i])):
            continue
        label = labels.get(round(float(classes[i])), f"class-{int(classes[i])}")
        if category_of(label) == "other":
            continue
        ymin, xmin, ymax, xmax = (float(v) for v in np.clip(boxes[i], 0.0, 1.0))
        if xmax <= xmin or ymax <= ymin:
            continue
        found.append(Detection(label, min(1.0, score), (xmin, ymin, xmax, ymax)))
    return found


class SsdDetector:
    """Runs a post-processed SSD model (implements ``Detector``)."""

    def __init__(self, model: TensorModel, labels: dict[int, str], *, min_score: float = 0.5):
        if not 0.0 < min_score < 1.0:
            raise ValueError(f"min_score must be in (0, 1), got {min_score}")
        inputs = list(model.inputs)
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[3] != 3:
            raise DetectorError(
                f"not an image detector: input tensors {[list(t.shape) for t in inputs]}, "
                "want [1,height,width,3]"
            )
        self._order = order_outputs(model.outputs)
        self._model = model
        self._input = inputs[0]
        self._labels = dict(labels)
        self.min_score = min_score

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(label for label in self._labels.values() if category_of(label) != "other")

    def _tensor(self, frame: Frame) -> npt.NDArray[Any]:
        _, height, width, _ = self._input.shape
        image = resize(frame, width, height)
        dtype = self._input.dtype
        if dtype == np.uint8:
            return np.clip(np.rint(image), 0, 255).astype(np.uint8)[None]
        scaled = (image / 127.5 - 1.0)[None]
        return self._input.quantise(scaled)

    def detect(self, frame: Frame) -> list[Detection]:
        outputs = self._model.run([self._tensor(frame)])
        specs = self._model.outputs
        arrays = [specs[i].dequantise(out) for i, out in enumerate(outputs)]
        order = self._order or order_outputs(specs, arrays)
        if order is None:
            return []  # every value a whole number: nothing scored above zero
        self._order = order
        b, c, s, n = order
        return postprocess(
            arrays[b][0],
            arrays[c][0],
            arrays[s][0],
            int(np.asarray(arrays[n]).reshape(-1)[0]),
            self._labels,
            self.min_score,
        )
