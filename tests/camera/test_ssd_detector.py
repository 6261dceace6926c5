"""The SSD detector port, on arrays: output tensors told apart, label maps, post-processing.

No SSD model ships with the project (none is on the package registry as a .tflite), so the
model-facing part is tested with a recording model: a test sets what each ``run`` returns and
reads back the input tensor it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from pole_agent.drivers.tflite_runtime import TensorInfo
from pole_agent.perception.camera.detection import DetectorError
from pole_agent.perception.camera.ssd_detector import (
    SsdDetector,
    order_outputs,
    parse_label_map,
    postprocess,
)

COCO_TXT = "???\nperson\nbicycle\ncar\nmotorcycle\nairplane\nbus\ntrain\ntruck\n"
CORAL_TXT = "0  person\n1  bicycle\n2  car\n3  motorcycle\n5  bus\n7  truck\n"


def spec(name: str, shape: tuple[int, ...], dtype: Any = np.float32, index: int = 0) -> TensorInfo:
    return TensorInfo(name, index, shape, np.dtype(dtype), 0.0, 0)


@dataclass
class RecordingModel:
    """A model whose outputs the test sets; it keeps every input it was run on."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    answers: list[list[npt.NDArray[Any]]] = field(default_factory=list)
    seen: list[npt.NDArray[Any]] = field(default_factory=list)

    def run(self, inputs: Sequence[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
        self.seen.append(inputs[0])
        return self.answers.pop(0)


def test_label_maps_in_both_formats() -> None:
    tf1 = parse_label_map(COCO_TXT)
    assert tf1[0] == "person" and tf1[2] == "car" and tf1[7] == "truck"
    coral = parse_label_map(CORAL_TXT)
    assert coral == {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
    with pytest.raises(DetectorError, match="no labels"):
        parse_label_map("\n# nothing\n")
    with pytest.raises(DetectorError, match="given twice"):
        parse_label_map("0 person\n0 car\n")


def test_outputs_are_told_apart_by_shape_name_and_value() -> None:
    tf1 = [
        spec("TFLite_Detection_PostProcess", (1, 10, 4)),
        spec("TFLite_Detection_PostProcess:1", (1, 10)),
        spec("TFLite_Detection_PostProcess:2", (1, 10)),
        spec("TFLite_Detection_PostProcess:3", (1,)),
    ]
    assert order_outputs(tf1) == (0, 1, 2, 3)
    # EfficientDet-Lite exports: scores first, classes last, anonymous names.
    effdet = [
        spec("StatefulPartitionedCall:1", (1, 25)),
        spec("StatefulPartitionedCall:3", (1, 25, 4)),
        spec("StatefulPartitionedCall:0", (1,)),
        spec("StatefulPartitionedCall:2", (1, 25)),
    ]
    assert order_outputs(effdet) is None  # names say nothing: wait for values
    values = [
        np.array([[0.9, 0.4] + [0.0] * 23], dtype=np.float32),
        np.zeros((1, 25, 4), dtype=np.float32),
        np.array([2.0], dtype=np.float32),
        np.array([[2.0, 0.0] + [0.0] * 23], dtype=np.float32),
    ]
    assert order_outputs(effdet, values) == (1, 3, 0, 2)
    with pytest.raises(DetectorError, match="not an SSD post-processed model"):
        order_outputs([spec("raw", (1, 2254, 12)), spec("scores", (1, 2254, 1))])


def test_postprocess_keeps_people_and_vehicles_above_the_threshold() -> None:
    labels = parse_label_map(COCO_TXT)
    boxes = np.array(
        [[0.1, 0.2, 0.5, 0.3], [0.4, 0.5, 0.6, 0.9], [0, 0, 1, 1], [0.2, 0.2, 0.3, 0.3]],
        dtype=np.float32,
    )
    classes = np.array([0, 2, 4, 7], dtype=np.float32)  # person, car, airplane, truck
    scores = np.array([0.8, 0.6, 0.9, 0.3], dtype=np.float32)
    found = postprocess(boxes, classes, scores, 4, labels, 0.5)
    assert [(d.label, d.category) for d in found] == [("person", "person"), ("car", "vehicle")]
    assert found[0].box == pytest.approx((0.2, 0.1, 0.3, 0.5))  # ymin,xmin.. -> xmin,ymin..
    assert postprocess(boxes, classes, scores, 1, labels, 0.5)[0].label == "person"  # count
    nan = boxes.copy()
    nan[0, 0] = np.nan
    assert [d.label for d in postprocess(nan, classes, scores, 4, labels, 0.5)] == ["car"]


def test_detector_feeds_the_stretched_frame_and_reads_any_output_order() -> None:
    model = RecordingModel(
        inputs=[spec("input", (1, 300, 300, 3), np.uint8)],
        outputs=[
            spec("scores", (1, 10)),
            spec("boxes", (1, 10, 4)),
            spec("count", (1,)),
            spec("classes", (1, 10)),
        ],
    )
    detector = SsdDetector(model, parse_label_map(CORAL_TXT), min_score=0.5)
    assert detector.labels == frozenset({"person", "car", "motorcycle", "bus", "truck"})
    boxes = np.zeros((1, 10, 4), dtype=np.float32)
    boxes[0, 0] = [0.5, 0.25, 1.0, 0.75]
    model.answers.append(
        [
            np.array([[0.7] + [0.0] * 9], dtype=np.float32),
            boxes,
            np.array([1.0], dtype=np.float32),
            np.array([[2.0] + [0.0] * 9], dtype=np.float32),
        ]
    )
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    frame[:, 80:] = 255
    found = detector.detect(frame)
    assert [(d.label, d.box) for d in found] == [("car", (0.25, 0.5, 0.75, 1.0))]
    tensor = model.seen[0]
    assert tensor.shape == (1, 300, 300, 3) and tensor.dtype == np.uint8
    assert tensor[0, 150, 10, 0] == 0 and tensor[0, 150, 290, 0] == 255


def test_a_model_that_is_not_an_image_detector_is_refused() -> None:
    model = RecordingModel(inputs=[spec("x", (1, 64, 33))], outputs=[])
    with pytest.raises(DetectorError, match="not an image detector"):
        SsdDetector(model, {0: "person"})
