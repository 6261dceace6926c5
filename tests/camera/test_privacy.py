"""Privacy: frames live in memory only. People go through the whole camera path (the real
person detector on real photographs of a person, and the simulator's detector), then the state
directory and every payload the broker carried are searched for image data."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import skimage.data
from paho.mqtt.enums import CallbackAPIVersion

from pole_agent.perception.camera.detection import Frame
from simulator.broker import MosquittoBroker
from simulator.pedestrians import crossing, waiting
from simulator.world import Vehicle
from tests.camera.rig import CameraPole, make_camera_pole

ROOT = Path(__file__).resolve().parents[2]
MAGIC = {
    "JPEG": b"\xff\xd8\xff",
    "PNG": b"\x89PNG\r\n\x1a\n",
    "GIF": b"GIF8",
    "WebP": b"WEBP",
    "TIFF": b"II*\x00",
    "numpy .npy": b"\x93NUMPY",
    "RIFF/AVI": b"RIFF",
}
BASE64_BLOB = re.compile(rb"[A-Za-z0-9+/]{200,}={0,2}")
HEX_BLOB = re.compile(rb"[0-9a-fA-F]{400,}")


class Everything:
    """A subscriber to every topic on the broker, keeping each payload as it arrived."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.payloads: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="privacy-audit")
        self._client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "could not subscribe to #"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.payloads.append((msg.topic, bytes(msg.payload)))

    def stop(self) -> list[tuple[str, bytes]]:
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            return list(self.payloads)


def signatures(frames: list[Frame], pole: CameraPole, t: float) -> list[bytes]:
    """Byte runs that only a copy of a frame's pixels would contain: 24-pixel pieces of rows
    through each person drawn in the frames."""
    found = []
    for frame in frames:
        for person in pole.view.world.pedestrians():
            corners = pole.view.person_corners(person, t)
            if corners is None:
                continue
            x = int(np.clip(corners[:, 0].mean(), 12, frame.shape[1] - 12))
            y = int(np.clip(corners[:, 1].mean(), 0, frame.shape[0] - 1))
            found.append(frame[y, x - 12 : x + 12].tobytes())
    return found


def image_data_in(name: str, data: bytes, pieces: list[bytes]) -> list[str]:
    problems = [f"{name}: {kind} magic" for kind, magic in MAGIC.items() if magic in data]
    if BASE64_BLOB.search(data):
        problems.append(f"{name}: a long base64 run")
    if HEX_BLOB.search(data):
        problems.append(f"{name}: a long hex run")
    problems += [f"{name}: raw pixels of a person" for piece in pieces if piece in data]
    return problems


def run_and_audit(pole: CameraPole, broker: MosquittoBroker, tmp_path: Path, until: float) -> None:
    audit = Everything(broker)
    pole.start()
    pole.until(until)
    pole.stop()
    payloads = audit.stop()
    camera = pole.agent.camera
    assert camera is not None and camera.worker is not None
    assert camera.worker.counts["detections"] > 0, "nobody went through the camera path"
    assert payloads, "the broker carried nothing: nothing was audited"
    t = until / 2
    pieces = signatures([pole.view.render(t)], pole, t)
    assert pieces
    problems: list[str] = []
    for topic, payload in payloads:
        problems += image_data_in(f"payload on {topic}", payload, pieces)
        if len(payload) > 64 * 1024:
            problems.append(f"payload on {topic}: {len(payload)} bytes, frame-sized")
    state = tmp_path / "state"
    files = [p for p in state.rglob("*") if p.is_file()]
    assert files, "the agent wrote no state: nothing was audited"
    for path in files:
        problems += image_data_in(str(path.relative_to(tmp_path)), path.read_bytes(), pieces)
        if path.suffix.lower() in {".png", ".jpg", ".jpeg", ".avi", ".mp4", ".npy", ".raw"}:
            problems.append(f"{path}: an image or video file")
    # Nothing was written anywhere else in the test's folder but the input video.
    others = [
        p for p in tmp_path.rglob("*") if p.is_file() and state not in p.parents and p != pole.video
    ]
    problems += [f"{p}: written outside the state dir" for p in others if p.parent.name != "dev"]
    assert problems == []


def test_people_through_the_real_person_detector_leave_no_image_behind(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    astronaut = np.asarray(skimage.data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    people = [
        crossing(1, 0.0, age_group="adult", height_m=1.8, speed_mps=1.0),
        crossing(2, 2.0, age_group="child", height_m=1.3, speed_mps=1.0, offset_m=1.0),
    ]
    pole = make_camera_pole(
        tmp_path,
        vehicles=[Vehicle(10, 2.0, 45.0, "approaching")],
        pedestrians=people,
        sprite=astronaut,
        configured_model=True,
        broker=broker,
        duration_s=10.0,
    )
    run_and_audit(pole, broker, tmp_path, until=8.0)


def test_people_and_warnings_through_the_simulator_detector_leave_no_image_behind(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    people = [
        waiting(1, 0.0, 12.0, age_group="child", height_m=1.2),
        crossing(2, 1.0, age_group="adult", height_m=1.75, speed_mps=1.2),
    ]
    pole = make_camera_pole(
        tmp_path,
        vehicles=[Vehicle(10, 3.0, 45.0, "approaching")],
        pedestrians=people,
        camera_vehicles=[Vehicle(20, 2.0, 36.0, "approaching")],
        broker=broker,
        duration_s=10.0,
    )
    run_and_audit(pole, broker, tmp_path, until=8.0)
    assert pole.records("child_warning"), "the scenario should have warned the child"


def test_cv2_is_imported_by_the_camera_driver_alone() -> None:
    """Frames can only be written by code that can encode them: OpenCV is imported in one
    module of the agent, whose only writers are the simulator's video and the snapshot."""
    importers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "pole_agent").rglob("*.py"))
        if re.search(r"^\s*(import cv2|from cv2\b)", path.read_text(), re.MULTILINE)
    ]
    assert importers == ["pole_agent/drivers/camera.py"]
    driver = (ROOT / "pole_agent/drivers/camera.py").read_text()
    writers = re.findall(r"cv2\.(imwrite|imencode|VideoWriter)\b", driver)
    assert sorted(set(writers)) == ["VideoWriter", "imencode"]
    assert "imwrite" not in driver
