"""The camera path's speed on this machine: inference p50/p99 and frames per second.

``python -m bench.camera_fps [--quick] [--frames N]`` prints two tables:

1. Inference: the shipped person detector (``pose_detection.tflite`` through ai-edge-litert) on
   a 640x360 frame of the simulator's road with a real photograph of a person in it, stage by
   stage: letterbox (numpy resize to 224x224), the model's ``run``, decoding + weighted NMS,
   and the whole ``detect``; p50 and p99 in ms over N frames, with 1 and 2 interpreter threads.
2. Frames per second: an MJPEG video file of that scene read by the real camera driver
   (``CameraCapture`` with ``paced=False``: as fast as it decodes) into the one-frame slot,
   with the detector thread behind it: frames decoded per second by the capture alone, and
   frames detected per second by the whole path (the rest are dropped by the slot, as they
   would be on a pole with a faster camera).

Timings are figures, never assertions (the machine is shared): compare within one run.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import skimage.data

from bench.report import paragraph, percentile, table
from pole_agent.clock import ScaledClock
from pole_agent.drivers.camera import CameraCapture, write_video
from pole_agent.drivers.tflite_runtime import load_model
from pole_agent.health import HealthBoard
from pole_agent.perception.camera.detection import Frame
from pole_agent.perception.camera.detectors import POSE_MODEL, check_shipped_model
from pole_agent.perception.camera.letterbox import letterbox
from pole_agent.perception.camera.pose_detector import INPUT_SIZE, PoseDetector
from pole_agent.perception.camera.scene import CameraScene, RoadZones
from pole_agent.perception.camera.worker import CameraWorker, LatestFrame
from pole_agent.ports import PedestrianSeen, VehicleApproaching
from simulator.camera_world import CameraWorld
from simulator.pedestrians import crossing
from simulator.world import World


def scene_frames(count: int) -> tuple[CameraWorld, list[Frame]]:
    sprite = np.asarray(skimage.data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    person = crossing(1, 0.0, age_group="adult", height_m=1.8, speed_mps=1.0)
    view = CameraWorld(World(pedestrians=[person], lane_offset_m=2.25), person_sprite=sprite)
    return view, [view.render(1.0 + 5.0 * i / count) for i in range(count)]


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.2f}"


def inference_rows(frames: list[Frame], threads: int) -> tuple[list[list[str]], int]:
    model = load_model(POSE_MODEL, num_threads=threads)
    detector = PoseDetector(model)
    stages: dict[str, list[float]] = {"letterbox": [], "model run": [], "decode+NMS": []}
    whole: list[float] = []
    found = 0
    for frame in frames[:5]:
        detector.detect(frame)  # warm-up
    for frame in frames:
        t0 = time.perf_counter()
        image, pad = letterbox(frame, INPUT_SIZE, INPUT_SIZE)
        tensor = (image / 127.5 - 1.0)[None].astype(np.float32)
        t1 = time.perf_counter()
        raw, logits = model.run([tensor])
        t2 = time.perf_counter()
        result = detector.postprocess(raw[0], logits[0, :, 0], pad, frame.shape[1], frame.shape[0])
        t3 = time.perf_counter()
        stages["letterbox"].append(t1 - t0)
        stages["model run"].append(t2 - t1)
        stages["decode+NMS"].append(t3 - t2)
        t4 = time.perf_counter()
        detector.detect(frame)
        whole.append(time.perf_counter() - t4)
        found += len(result) > 0
    rows = [[f"{name} ({threads} thr)", ms(v, 50), ms(v, 99)] for name, v in stages.items()]
    rows.append([f"detect() ({threads} thr)", ms(whole, 50), ms(whole, 99)])
    return rows, found


class Sink:
    def pedestrian(self, seen: PedestrianSeen) -> None:
        pass

    def vehicle(self, approaching: VehicleApproaching) -> None:
        pass


class CountingSlot(LatestFrame):
    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, frame: Frame, t: float) -> None:
        self.puts += 1
        super().put(frame, t)


def path_rows(view: CameraWorld, frames: list[Frame], video: Path) -> list[list[str]]:
    write_video(video, frames, fps=10)
    clock = ScaledClock(1.0)
    rows = []
    # The capture alone: decode, scale, BGR->RGB, hand over.
    count = [0]
    done = threading.Event()

    def sink(frame: Frame, t: float) -> None:
        count[0] += 1
        if count[0] == len(frames):
            done.set()

    capture = CameraCapture(str(video), ScaledClock(1.0), sink, fps=10, paced=False)
    start = time.perf_counter()
    capture.start()
    done.wait(60)
    elapsed = time.perf_counter() - start
    capture.stop()
    rows.append(["capture only (decode + RGB)", f"{count[0] / elapsed:.0f}", "-", "-"])
    # The whole path: capture -> slot -> detector thread (pose, 1 thread) -> scene.
    config_view = view.camera_section(str(video))
    from pole_agent.config import CameraConfig

    config = CameraConfig.model_validate(config_view)
    detector = PoseDetector(load_model(POSE_MODEL, num_threads=1))
    slot = CountingSlot()
    looped = CameraCapture(str(video), clock, slot.put, fps=10, loop=True, paced=False)
    worker = CameraWorker(
        name="model.camera",
        slot=slot,
        capture=looped,
        detector=detector,
        scene=CameraScene(config.calibration.ground(), RoadZones()),
        port=Sink(),
        clock=clock,
        health=HealthBoard(),
        budget_ms=250,
        stale_after_s=1e9,
    )
    worker.start()
    looped.start()
    time.sleep(1.0)  # warm-up
    frames0, puts0, t0 = worker.counts["frames"], slot.puts, time.perf_counter()
    time.sleep(5.0 if len(frames) > 60 else 2.0)
    frames1, puts1, t1 = worker.counts["frames"], slot.puts, time.perf_counter()
    worker.stop()
    looped.stop()
    worker.stop()
    detected = (frames1 - frames0) / (t1 - t0)
    offered = (puts1 - puts0) / (t1 - t0)
    rows.append(
        [
            "capture -> slot -> detector (1 thr)",
            f"{offered:.0f}",
            f"{detected:.1f}",
            f"{100 * (1 - detected / offered):.0f}" if offered else "-",
        ]
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.camera_fps", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 frames instead of 200")
    parser.add_argument("--frames", type=int, default=None, help="frames per measurement")
    args = parser.parse_args(argv)
    count = args.frames or (40 if args.quick else 200)
    check_shipped_model()
    view, frames = scene_frames(count)
    rows: list[list[str]] = []
    found = 0
    for threads in (1, 2):
        more, found = inference_rows(frames, threads)
        rows += more
    print(f"Person detector inference, 640x360 frames, {count} frames per row (ms)")
    print(table(["stage", "p50", "p99"], rows))
    print(paragraph(f"The person was found in {found} of {count} frames (real photograph)."))
    with tempfile.TemporaryDirectory() as tmp:
        path = path_rows(view, frames, Path(tmp) / "scene.avi")
    print()
    print("Camera path, 640x360 MJPEG file (frames per second)")
    print(table(["path", "frames in/s", "detected/s", "dropped %"], path))
    print(
        paragraph(
            "'frames in' is what the capture decoded and offered; the slot keeps only the "
            "newest, so the detector always works on the latest frame and the rest are dropped."
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
