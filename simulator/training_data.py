"""Labelled spectrogram windows for the child/adult/vehicle model (issue 4), from the same physics
the emulator's spectrum mode uses (``simulator.radar_physics``, ``gait``, ``wheeled``).

A window is ``WindowSpec.frames`` back-to-back spectra of one random scene, cropped to the band
of bins the model reads and quantised exactly as the spectrum line quantises them (so training
sees what the driver decodes). Its labels: which of ``CLASSES`` are present and, for each, the
radial speed (m/s, positive = approaching) of the strongest one at the end of the window; no
class present is "nothing". ``SceneRanges`` holds every parameter range; ``SceneRanges.held_out()``
is wider, and held-out data should also use other seeds.

Window ``i`` of seed ``s`` depends only on ``(s, i)``, whatever the number of workers.
Command line: ``python -m simulator.training_data --count 1000 --seed 1 --out windows.npz``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from pole_agent.perception.spectrum import DEFAULT_DB0, DEFAULT_STEP_DB, quantise_db
from simulator.gait import Gait, Walker, human_rcs_m2
from simulator.radar_physics import (
    Foliage,
    RadarMount,
    ScattererModel,
    SensorSettings,
    antenna_gain,
    contiguous_frame_ends,
    doppler_spectra,
    received_power_db,
)
from simulator.wheeled import CAR_RCS_M2, Bicycle, Car, Scooter, StraightPath

CLASSES: Final = ("child", "adult", "vehicle", "cyclist_scooter")
Range = tuple[float, float]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class SceneRanges:
    """What a random scene may hold; uniform draws within each range."""

    p_child: float = 0.35
    p_adult: float = 0.35
    p_vehicle: float = 0.35
    p_rider: float = 0.2
    p_second: float = 0.15
    """Chance of a second target of a class that is present."""
    child_height_m: Range = (1.0, 1.45)
    adult_height_m: Range = (1.5, 1.95)
    walk_speed_mps: Range = (0.7, 1.9)
    run_speed_mps: Range = (2.2, 4.5)
    run_share: float = 0.25
    vehicle_speed_kmh: Range = (10.0, 60.0)
    bus_share: float = 0.1
    bicycle_speed_mps: Range = (2.5, 7.0)
    scooter_speed_mps: Range = (2.0, 7.0)
    scooter_share: float = 0.5
    person_range_m: Range = (2.0, 25.0)
    vehicle_range_m: Range = (5.0, 60.0)
    rider_range_m: Range = (3.0, 35.0)
    aspect_deg: Range = (0.0, 70.0)
    """Angle between a target's motion and the line of sight (either side)."""
    azimuth_deg: Range = (-10.0, 10.0)
    """Where the target is, off the boresight."""
    approaching_share: float = 0.5
    mount_height_m: Range = (0.8, 3.0)
    tilt_deg: Range = (0.0, 8.0)
    sensitivity_db: Range = (-6.0, 4.0)
    """Offset to the sensor's nominal SNR (unit spread, radome, rain)."""
    static_clutter_db: Range = (20.0, 55.0)
    foliage: tuple[int, int] = (0, 4)
    rcs_spread_db: float = 2.0
    """Standard deviation of a target's RCS about its class's mean."""
    min_snr_db: float = 8.0
    """A target is placed only where its main line stands this far above the noise floor."""

    @classmethod
    def held_out(cls) -> SceneRanges:
        """Wider than training on every axis: for held-out evaluation (with other seeds)."""
        return cls(
            child_height_m=(0.95, 1.5),
            adult_height_m=(1.45, 2.0),
            walk_speed_mps=(0.5, 2.1),
            run_speed_mps=(2.0, 5.5),
            vehicle_speed_kmh=(5.0, 80.0),
            bicycle_speed_mps=(2.0, 9.0),
            scooter_speed_mps=(1.5, 8.0),
            person_range_m=(1.5, 30.0),
            vehicle_range_m=(3.0, 80.0),
            rider_range_m=(2.0, 40.0),
            aspect_deg=(0.0, 80.0),
            azimuth_deg=(-14.0, 14.0),
            mount_height_m=(0.6, 4.0),
            tilt_deg=(0.0, 12.0),
            sensitivity_db=(-9.0, 6.0),
            static_clutter_db=(15.0, 60.0),
            foliage=(0, 6),
            rcs_spread_db=3.0,
            min_snr_db=6.0,
        )


@dataclass(frozen=True, kw_only=True)
class WindowSpec:
    """The model's input: sensor settings, window length, band and quantisation."""

    sampling_rate_hz: int = 20_000
    fft_size: int = 1024
    frames: int = 32
    """Back-to-back FFT buffers: 32 x 51.2 ms = 1.64 s, more than a gait cycle."""
    band: tuple[int, int] = (-128, 128)
    """Signed bins ``lo .. hi - 1`` kept (+-15.5 m/s at 20 kHz), the spectrum band mode's base."""
    db0: float = DEFAULT_DB0
    step_db: float = DEFAULT_STEP_DB

    def sensor(self, sensitivity_db: float = 0.0) -> SensorSettings:
        nominal = SensorSettings().snr_1m2_at_10m_db
        return SensorSettings(
            sampling_rate_hz=self.sampling_rate_hz,
            fft_size=self.fft_size,
            snr_1m2_at_10m_db=nominal + sensitivity_db,
        )

    @property
    def window_s(self) -> float:
        return self.frames * self.fft_size / self.sampling_rate_hz

    @property
    def bins(self) -> int:
        return self.band[1] - self.band[0]


@dataclass(frozen=True)
class TargetTruth:
    """Ground truth of one target of a window (values at the window's end)."""

    label: str
    kind: str
    radial_mps: float
    speed_mps: float
    range_m: float
    power_db: float
    height_m: float | None = None
    gait: str | None = None


@dataclass(frozen=True)
class _Scaled:
    """A model with its RCS scaled (per-target spread about the class mean)."""

    model: ScattererModel
    factor: float

    def scatterers(self, times: FloatArray) -> tuple[FloatArray, FloatArray]:
        positions, rcs = self.model.scatterers(times)
        return positions, rcs * self.factor


def _place(
    rng: np.random.Generator, ranges: SceneRanges, range_m: Range, speed: float, window_s: float
) -> tuple[float, float, float]:
    """Start point and heading of a straight pass through the beam, at least 1.5 m from the
    radar throughout the window."""
    for _ in range(20):
        r = float(rng.uniform(*range_m))
        az = math.radians(float(rng.uniform(*ranges.azimuth_deg)))
        aspect = math.radians(float(rng.uniform(*ranges.aspect_deg))) * rng.choice([-1.0, 1.0])
        approaching = bool(rng.random() < ranges.approaching_share)
        heading = az + (math.pi if approaching else 0.0) + aspect
        step = speed * np.array([math.cos(heading), math.sin(heading)])
        start = np.array([r * math.cos(az), r * math.sin(az)]) - step * window_s / 2
        path = start[None, :] + np.outer(np.linspace(0, window_s, 9), step)
        if float(np.min(np.linalg.norm(path, axis=1))) >= 1.5:
            break
    return float(start[0]), float(start[1]), heading


def _target(
    rng: np.random.Generator, label: str, ranges: SceneRanges, window_s: float
) -> tuple[ScattererModel, str, float, float, float | None, str | None]:
    """One random target: model, kind, speed, mean RCS, height and gait (people)."""
    if label in ("child", "adult"):
        height = float(rng.uniform(*getattr(ranges, f"{label}_height_m")))
        running = bool(rng.random() < ranges.run_share)
        speed = float(rng.uniform(*(ranges.run_speed_mps if running else ranges.walk_speed_mps)))
        gait: Gait = "run" if running else "walk"
        x0, y0, heading = _place(rng, ranges, ranges.person_range_m, speed, window_s)
        walker = Walker(
            height, speed, gait, x0=x0, y0=y0, heading_rad=heading,
            phase0=float(rng.random()),
        )  # fmt: skip
        return walker, label, speed, human_rcs_m2(height), height, gait
    if label == "vehicle":
        speed = float(rng.uniform(*ranges.vehicle_speed_kmh)) / 3.6
        x0, y0, heading = _place(rng, ranges, ranges.vehicle_range_m, speed, window_s)
        path = StraightPath(x0, y0, heading, speed)
        seed = int(rng.integers(1 << 30))
        if rng.random() < ranges.bus_share:
            bus = Car(path, length_m=11.0, width_m=2.5, height_m=3.2, wheel_radius_m=0.5,
                      wheelbase_m=6.0, rcs_m2=4 * CAR_RCS_M2, layout_seed=seed)  # fmt: skip
            return bus, "bus", speed, bus.rcs_m2, None, None
        car = Car(path, length_m=float(rng.uniform(3.6, 5.2)), layout_seed=seed)
        return car, "car", speed, car.rcs_m2, None, None
    scooter = bool(rng.random() < ranges.scooter_share)
    speed = float(rng.uniform(*(ranges.scooter_speed_mps if scooter else ranges.bicycle_speed_mps)))
    x0, y0, heading = _place(rng, ranges, ranges.rider_range_m, speed, window_s)
    path = StraightPath(x0, y0, heading, speed)
    height = float(rng.uniform(1.3, 1.95))
    seed = int(rng.integers(1 << 30))
    rider: ScattererModel
    if scooter:
        rider = Scooter(path, height, sway_phase=float(rng.uniform(0, 6.3)), layout_seed=seed)
        return rider, "scooter", speed, human_rcs_m2(height) + 0.08, height, None
    rider = Bicycle(path, height, crank_phase=float(rng.uniform(0, 6.3)), layout_seed=seed)
    return rider, "bicycle", speed, human_rcs_m2(height) + 0.15, height, None


def _truth_at_end(
    model: ScattererModel, mount: RadarMount, sensor: SensorSettings, rcs: float, t: float
) -> tuple[float, float, float]:
    """Radial speed (m/s), range (m) and main-line power (dB) of a target at time ``t``."""
    inner = model.model if isinstance(model, _Scaled) else model
    if isinstance(inner, Walker):
        point, velocity = inner.position(t), inner.velocity
        point = point + np.array([0.0, 0.0, 0.55 * inner.height_m])
    else:
        path: StraightPath = inner.path  # type: ignore[attr-defined]
        point, velocity = path.position(t) + np.array([0.0, 0.0, 0.8]), path.velocity
    local = mount.to_radar(point[None, :])
    gain = float(antenna_gain(local, sensor)[0])
    range_m = float(np.linalg.norm(local))
    return mount.radial_mps(point, velocity), range_m, received_power_db(rcs, range_m, sensor, gain)


@dataclass(frozen=True)
class Window:
    """One labelled window: ``codes`` (frames, bins) as the wire carries them."""

    codes: npt.NDArray[np.uint8]
    present: npt.NDArray[np.bool_]
    radial_mps: npt.NDArray[np.float32]
    targets: tuple[TargetTruth, ...]


@dataclass(frozen=True)
class _Scene:
    mount: RadarMount
    sensor: SensorSettings
    models: list[ScattererModel]
    truths: list[TargetTruth]


def _scene(rng: np.random.Generator, ranges: SceneRanges, spec: WindowSpec) -> _Scene:
    """The targets of a window (the first draws of its generator, before foliage and noise)."""
    mount = RadarMount(
        height_m=float(rng.uniform(*ranges.mount_height_m)),
        tilt_deg=float(rng.uniform(*ranges.tilt_deg)),
    )
    sensor = spec.sensor(float(rng.uniform(*ranges.sensitivity_db)))
    t_end = spec.window_s
    models: list[ScattererModel] = []
    truths: list[TargetTruth] = []
    chances = (ranges.p_child, ranges.p_adult, ranges.p_vehicle, ranges.p_rider)
    for label, chance in zip(CLASSES, chances, strict=True):
        count = int(rng.random() < chance)
        count += int(count and rng.random() < ranges.p_second)
        for _ in range(count):
            factor = 10 ** (float(rng.normal(0.0, ranges.rcs_spread_db)) / 10)
            for _attempt in range(8):
                model, kind, speed, rcs, height, gait = _target(rng, label, ranges, t_end)
                scaled = _Scaled(model, factor)
                radial, range_m, power = _truth_at_end(scaled, mount, sensor, rcs * factor, t_end)
                if power >= ranges.min_snr_db:
                    break
            else:
                continue  # nowhere visible in this scene: leave it out rather than mislabel
            models.append(scaled)
            truths.append(TargetTruth(label, kind, radial, speed, range_m, power, height, gait))
    return _Scene(mount, sensor, models, truths)


def scene_truths(
    index: int, *, seed: int, ranges: SceneRanges | None = None, spec: WindowSpec | None = None
) -> tuple[TargetTruth, ...]:
    """The ground truth of window ``index`` of seed ``seed`` without its spectra (about a
    thousand times faster): for analyses of what the targets' kinematics allow
    (``training.identifiability``)."""
    rng = np.random.default_rng([seed, index])
    return tuple(_scene(rng, ranges or SceneRanges(), spec or WindowSpec()).truths)


def generate_window(
    index: int, *, seed: int, ranges: SceneRanges | None = None, spec: WindowSpec | None = None
) -> Window:
    """Window ``index`` of the stream of seed ``seed``."""
    ranges = ranges or SceneRanges()
    spec = spec or WindowSpec()
    rng = np.random.default_rng([seed, index])
    scene = _scene(rng, ranges, spec)
    mount, sensor, models, truths = scene.mount, scene.sensor, scene.models, scene.truths
    t_end = spec.window_s
    foliage_count = int(rng.integers(ranges.foliage[0], ranges.foliage[1] + 1))
    if foliage_count:
        models.append(Foliage.random(rng, foliage_count, mount=mount))
    spectra = doppler_spectra(
        models,
        contiguous_frame_ends(t_end, spec.frames, sensor),
        sensor,
        mount,
        rng=rng,
        static_clutter_db=float(rng.uniform(*ranges.static_clutter_db)),
    )
    half = spec.fft_size // 2
    band = spectra[:, half + spec.band[0] : half + spec.band[1]]
    present = np.zeros(len(CLASSES), dtype=bool)
    speeds = np.full(len(CLASSES), np.nan, dtype=np.float32)
    for i, label in enumerate(CLASSES):
        mine = [truth for truth in truths if truth.label == label]
        if mine:
            present[i] = True
            speeds[i] = max(mine, key=lambda truth: truth.power_db).radial_mps
    return Window(quantise_db(band, spec.db0, spec.step_db), present, speeds, tuple(truths))


@dataclass
class Dataset:
    """Windows ``start .. start + count - 1`` of a seed, stacked."""

    codes: npt.NDArray[np.uint8]  # (W, frames, bins)
    present: npt.NDArray[np.bool_]  # (W, 4)
    radial_mps: npt.NDArray[np.float32]  # (W, 4), NaN where absent
    targets: list[tuple[TargetTruth, ...]]
    spec: WindowSpec
    ranges: SceneRanges
    seed: int
    start: int = 0

    def db(self) -> npt.NDArray[np.float32]:
        """The windows as power in dB (the quantised values the wire would carry)."""
        return (self.spec.db0 + self.codes.astype(np.float32) * self.spec.step_db).astype(
            np.float32
        )

    def content_hash(self) -> str:
        """SHA-256 over spectra and labels: the training data hash for the model's metadata."""
        digest = hashlib.sha256()
        for array in (self.codes, self.present, self.radial_mps):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def metadata(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "start": self.start,
            "count": int(self.codes.shape[0]),
            "classes": list(CLASSES),
            "spec": dataclasses.asdict(self.spec),
            "ranges": dataclasses.asdict(self.ranges),
            "sha256": self.content_hash(),
            "note": "simulated radar spectra (simulator.radar_physics), not measurements",
        }

    def save(self, path: Path) -> None:
        """``path`` (.npz: codes, present, radial_mps) and ``path`` + ``.json`` (metadata)."""
        np.savez_compressed(
            path, codes=self.codes, present=self.present, radial_mps=self.radial_mps
        )
        Path(f"{path}.json").write_text(json.dumps(self.metadata(), indent=2) + "\n")


def _chunk(args: tuple[int, int, int, SceneRanges, WindowSpec]) -> list[Window]:
    start, stop, seed, ranges, spec = args
    return [generate_window(i, seed=seed, ranges=ranges, spec=spec) for i in range(start, stop)]


def generate_dataset(
    count: int,
    *,
    seed: int,
    ranges: SceneRanges | None = None,
    spec: WindowSpec | None = None,
    start: int = 0,
    workers: int = 1,
) -> Dataset:
    """``count`` windows of seed ``seed``; ``workers`` processes share the work (same result)."""
    ranges = ranges or SceneRanges()
    spec = spec or WindowSpec()
    size = max(1, min(256, math.ceil(count / max(1, workers * 4))))
    stop = start + count
    jobs = [(i, min(i + size, stop), seed, ranges, spec) for i in range(start, stop, size)]
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            chunks = pool.map(_chunk, jobs)
    else:
        chunks = [_chunk(job) for job in jobs]
    windows = [window for chunk in chunks for window in chunk]
    empty = np.zeros((0, spec.frames, spec.bins), np.uint8)
    return Dataset(
        codes=np.stack([w.codes for w in windows]) if windows else empty,
        present=np.array([w.present for w in windows], dtype=bool).reshape(-1, len(CLASSES)),
        radial_mps=np.array([w.radial_mps for w in windows], np.float32).reshape(-1, len(CLASSES)),
        targets=[w.targets for w in windows],
        spec=spec,
        ranges=ranges,
        seed=seed,
        start=start,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--held-out", action="store_true", help="the wider held-out ranges")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    ranges = SceneRanges.held_out() if args.held_out else SceneRanges()
    data = generate_dataset(
        args.count, seed=args.seed, ranges=ranges, start=args.start, workers=args.workers
    )
    data.save(args.out)
    print(f"{args.count} windows -> {args.out} sha256 {data.content_hash()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
