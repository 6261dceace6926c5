"""Fixtures of the camera tests: the real person detector, loaded once."""

from __future__ import annotations

import pytest

from pole_agent.drivers.tflite_runtime import load_model
from pole_agent.perception.camera.detection import DetectorError
from pole_agent.perception.camera.detectors import POSE_MODEL, check_shipped_model
from pole_agent.perception.camera.pose_detector import PoseDetector


@pytest.fixture(scope="session")
def pose_detector() -> PoseDetector:
    """The shipped model through the real runtime. A missing model fails the test (the
    bootstrap fetches it), it is never skipped."""
    try:
        check_shipped_model()
    except DetectorError as err:
        pytest.fail(str(err))
    return PoseDetector(load_model(POSE_MODEL, num_threads=1), min_score=0.5)
