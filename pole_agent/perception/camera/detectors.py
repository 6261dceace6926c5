"""The configured detector, built from ``[camera]``: the shipped person detector or an
installer's SSD model, each with every check, each failure a ``DetectorError`` that says which
file and why (the agent then runs without the camera and says so).

The shipped model's bytes must be the ones recorded in ``pole_agent/models/pose_detection.json``
(SHA-256): ``scripts/fetch_person_model`` puts it there at install time; nothing is fetched here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Final

from pole_agent.config import CameraConfig
from pole_agent.drivers.tflite_runtime import ModelLoadError, NoRuntimeError, load_model
from pole_agent.perception.camera.detection import Detector, DetectorError, TensorModel
from pole_agent.perception.camera.pose_detector import PoseDetector
from pole_agent.perception.camera.ssd_detector import SsdDetector, read_label_map

MODELS_DIR: Final = Path(__file__).resolve().parent.parent.parent / "models"
POSE_MODEL: Final = MODELS_DIR / "pose_detection.tflite"
POSE_METADATA: Final = MODELS_DIR / "pose_detection.json"
FETCH_HINT: Final = "run scripts/fetch_person_model (the install step) to put it there"

ModelLoader = Callable[[Path, int], TensorModel]


def _load(path: Path, threads: int) -> TensorModel:
    return load_model(path, num_threads=threads)


def check_shipped_model(path: Path = POSE_MODEL, metadata: Path = POSE_METADATA) -> None:
    """Raise DetectorError unless ``path`` is the recorded person detector."""
    try:
        recorded = str(json.loads(metadata.read_text(encoding="utf-8"))["model_sha256"])
    except (OSError, ValueError, KeyError) as err:
        raise DetectorError(
            f"model metadata {metadata}: cannot read its checksum ({err})"
        ) from None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DetectorError(f"person detector {path} is missing: {FETCH_HINT}") from None
    except OSError as err:
        raise DetectorError(f"person detector {path}: cannot read it: {err}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded:
        raise DetectorError(
            f"person detector {path} is not the recorded file (SHA-256 {actual[:12]}..., "
            f"want {recorded[:12]}...): {FETCH_HINT}"
        )


def build_detector(config: CameraConfig, loader: ModelLoader = _load) -> Detector:
    """The detector ``config`` asks for; raises DetectorError."""
    try:
        if config.detector == "pose":
            path = config.model_path or POSE_MODEL
            if path == POSE_MODEL:
                check_shipped_model(path)
            return PoseDetector(loader(path, config.threads), min_score=config.min_score)
        assert config.model_path is not None and config.label_map is not None  # validated
        labels = read_label_map(config.label_map)
        return SsdDetector(
            loader(config.model_path, config.threads), labels, min_score=config.min_score
        )
    except (ModelLoadError, NoRuntimeError) as err:
        raise DetectorError(str(err)) from None
