"""Vehicles, bicycles and scooters as radar scatterers (see ``simulator.radar_physics``).

What sets them apart in a Doppler spectrum:

- a car or bus: a strong, narrow body line at its speed ``v`` plus the wheels. A point of a
  rolling wheel moves at ``v + omega x r``: the tyre's top at ``2v``, its contact point at 0. The
  wheel arch hides most of the upper half, so the spread up to ``2v`` is there but weak;
- a bicycle: a weak frame and rider line, spoked wheels fully exposed (the whole 0..2v spread)
  and the rider's legs turning the cranks at the cadence (about 1 Hz);
- an e-scooter: a small rider standing still on a small deck, tiny wheels: a narrow line with
  little limb motion, the hardest negative for a pedestrian model.

All move on straight lines at constant speed in the ground frame (x, y horizontal, z up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from simulator.gait import LEG, SHANK, THIGH, TORSO, human_rcs_m2

FloatArray = npt.NDArray[np.float64]

CAR_RCS_M2: Final = 10.0
"""A passenger car at 24 GHz (10 dBsm), the usual figure for automotive radar work."""
ARCH_HIDDEN: Final = 0.15
"""RCS share left of a wheel point above the arch line (the fender covers it)."""


@dataclass(frozen=True)
class StraightPath:
    """Constant-speed motion along a heading: the reference point is over ``(x0, y0)`` at
    ``t0``."""

    x0: float
    y0: float
    heading_rad: float
    speed_mps: float
    t0: float = 0.0

    @property
    def forward(self) -> FloatArray:
        return np.array([math.cos(self.heading_rad), math.sin(self.heading_rad), 0.0])

    @property
    def velocity(self) -> FloatArray:
        return self.speed_mps * self.forward

    def position(self, t: float) -> FloatArray:
        return np.array([self.x0, self.y0, 0.0]) + self.velocity * (t - self.t0)

    def to_ground(self, local: FloatArray, times: FloatArray) -> FloatArray:
        """Body-frame points (S, T, 3) (x forward, y left, z up) at ``times`` to ground frame."""
        forward = self.forward
        axes = np.array([forward, [-forward[1], forward[0], 0.0], [0.0, 0.0, 1.0]])
        base = np.array([self.x0, self.y0, 0.0]) + np.outer(times - self.t0, self.velocity)
        ground: FloatArray = np.matmul(local, axes) + base[None, :, :]
        return ground


def _wheel_points(
    hubs: FloatArray,
    times: FloatArray,
    *,
    radius: float,
    per_wheel: int,
    omega: float,
    layout_seed: int,
    inner: float,
) -> FloatArray:
    """Points on rolling wheels (W * per_wheel, T, 3), body frame, hubs (W, 3).

    A point at angle ``psi`` (from forward, towards up) turns as ``psi0 - omega t``, so the
    top moves forward: its speed over the ground is ``v + omega r``.
    """
    rng = np.random.default_rng(layout_seed)
    wheels = hubs.shape[0]
    rho = radius * rng.uniform(inner, 1.0, (wheels, per_wheel))
    psi0 = rng.uniform(0, 2 * math.pi, (wheels, per_wheel))
    psi = psi0[..., None] - omega * times[None, None, :]
    x = hubs[:, None, None, 0] + rho[..., None] * np.cos(psi)
    z = hubs[:, None, None, 2] + rho[..., None] * np.sin(psi)
    y = np.broadcast_to(hubs[:, None, None, 1], x.shape)
    return np.stack([x, y, z], axis=-1).reshape(wheels * per_wheel, times.shape[0], 3)


@dataclass(frozen=True)
class Car:
    """A car, van or bus: body scatterers and four rolling wheels."""

    path: StraightPath
    length_m: float = 4.4
    width_m: float = 1.8
    height_m: float = 1.5
    wheel_radius_m: float = 0.31
    wheelbase_m: float = 2.65
    rcs_m2: float = CAR_RCS_M2
    wheel_share: float = 0.06
    """Share of the RCS on the wheels (tyres and rims)."""
    points_per_wheel: int = 8
    layout_seed: int = 0

    def scatterers(self, times: FloatArray) -> tuple[FloatArray, FloatArray]:
        half_l, half_w, h = self.length_m / 2, self.width_m / 2, self.height_m
        body = np.array(
            [
                [half_l, 0.0, 0.45],  # bumper and grille
                [half_l - 0.3, 0.0, 0.8],  # bonnet edge, lights
                [half_l - 1.4, 0.0, 0.95 * h],  # windscreen frame
                [0.2, 0.0, h],  # roof
                [-half_l, 0.0, 0.6],  # rear
                [half_l - 1.6, half_w, 0.95],  # mirrors
                [half_l - 1.6, -half_w, 0.95],
                [0.0, half_w, 0.6],  # door panels
                [0.0, -half_w, 0.6],
            ]
        )
        share = np.array([0.3, 0.15, 0.12, 0.08, 0.1, 0.05, 0.05, 0.075, 0.075])
        t = times.shape[0]
        body_points = np.repeat(body[:, None, :], t, axis=1)
        r = self.wheel_radius_m
        half_wb, half_track = self.wheelbase_m / 2, half_w - 0.15
        hubs = np.array([[x, y, r] for x in (half_wb, -half_wb) for y in (half_track, -half_track)])
        omega = self.path.speed_mps / r
        wheels = _wheel_points(
            hubs, times, radius=r, per_wheel=self.points_per_wheel, omega=omega,
            layout_seed=self.layout_seed, inner=0.5,
        )  # fmt: skip
        exposed = np.where(wheels[..., 2] > r * 1.3, ARCH_HIDDEN, 1.0)
        wheel_rcs = self.rcs_m2 * self.wheel_share / wheels.shape[0] * exposed
        body_rcs = np.repeat((share * self.rcs_m2 * (1 - self.wheel_share))[:, None], t, axis=1)
        local = np.concatenate([body_points, wheels])
        return self.path.to_ground(local, times), np.concatenate([body_rcs, wheel_rcs])


def _two_link_knee(hip: FloatArray, foot: FloatArray, thigh: float, shank: float) -> FloatArray:
    """Knee positions (T, 3) of a leg from ``hip`` to ``foot`` (sagittal plane, knee forward)."""
    d = foot - hip
    dist = np.clip(np.linalg.norm(d, axis=-1), 1e-6, thigh + shank - 1e-6)
    unit = d / dist[:, None]
    cos_a = np.clip((thigh**2 + dist**2 - shank**2) / (2 * thigh * dist), -1.0, 1.0)
    a = np.arccos(cos_a)
    # rotate ``unit`` by +a in the x-z plane (towards forward-up)
    x = unit[:, 0] * np.cos(a) - unit[:, 2] * np.sin(a)
    z = unit[:, 0] * np.sin(a) + unit[:, 2] * np.cos(a)
    return hip + thigh * np.stack([x, unit[:, 1], z], axis=-1)


@dataclass(frozen=True)
class Bicycle:
    """A cyclist: frame, spoked wheels, and legs turning the cranks; torso and arms still."""

    path: StraightPath
    rider_height_m: float = 1.75
    wheel_radius_m: float = 0.34
    cadence_hz: float | None = None
    """Crank revolutions per second; None: speed / 5 m per turn, within 0.6..1.6."""
    crank_phase: float = 0.0
    points_per_wheel: int = 12
    frame_rcs_m2: float = 0.15
    layout_seed: int = 0

    def scatterers(self, times: FloatArray) -> tuple[FloatArray, FloatArray]:
        h, t = self.rider_height_m, times.shape[0]
        cadence = self.cadence_hz or min(1.6, max(0.6, self.path.speed_mps / 5.0))
        crank = np.array([0.0, 0.0, 0.28])
        seat = np.array([-0.2, 0.0, 0.28 + 0.88 * LEG * h])
        angle = self.crank_phase - 2 * math.pi * cadence * (times - self.path.t0)
        legs = []
        for offset, side in ((0.0, -0.12), (math.pi, 0.12)):
            foot = crank + np.stack(
                [0.17 * np.cos(angle + offset), np.full(t, side), 0.17 * np.sin(angle + offset)],
                axis=-1,
            )
            hip = np.broadcast_to(seat + np.array([0.0, side, 0.0]), (t, 3))
            knee = _two_link_knee(hip, foot, THIGH * h, (SHANK + 0.039) * h)
            legs += [(hip + knee) / 2, (knee + foot) / 2, foot]
        lean = math.radians(25.0)
        trunk = np.array([math.sin(lean), 0.0, math.cos(lean)]) * TORSO * h
        still = np.array(
            [
                seat + trunk * 0.4,
                seat + trunk * 0.85,
                seat + trunk + np.array([0.05, 0, 0.08 * h]),  # head
                (seat + trunk + np.array([0.45, 0.0, 0.95])) / 2,  # arms to the handlebar
                [0.0, 0.0, 0.55],  # frame
                [0.45, 0.0, 0.95],  # handlebar, stem
            ]
        )
        r = self.wheel_radius_m
        hubs = np.array([[0.52, 0.0, r], [-0.52, 0.0, r]])
        wheels = _wheel_points(
            hubs, times, radius=r, per_wheel=self.points_per_wheel,
            omega=self.path.speed_mps / r, layout_seed=self.layout_seed, inner=0.1,
        )  # fmt: skip
        local = np.concatenate([np.repeat(still[:, None, :], t, axis=1), np.stack(legs), wheels])
        person = human_rcs_m2(h)
        still_rcs = [0.3 * person, 0.3 * person, 0.07 * person, 0.08 * person]
        still_rcs += [self.frame_rcs_m2 * 0.6, self.frame_rcs_m2 * 0.4]
        leg_rcs = [0.07 * person, 0.05 * person, 0.015 * person] * 2
        wheel_rcs = [self.frame_rcs_m2 * 0.5 / wheels.shape[0]] * wheels.shape[0]
        rcs = np.array(still_rcs + leg_rcs + wheel_rcs)[:, None]
        return self.path.to_ground(local, times), rcs


@dataclass(frozen=True)
class Scooter:
    """An e-scooter: a rider standing on a small deck, swaying slightly; tiny wheels."""

    path: StraightPath
    rider_height_m: float = 1.7
    wheel_radius_m: float = 0.10
    sway_hz: float = 0.7
    sway_phase: float = 0.0
    deck_rcs_m2: float = 0.08
    layout_seed: int = 0
    _points_per_wheel: int = field(default=6, repr=False)

    def scatterers(self, times: FloatArray) -> tuple[FloatArray, FloatArray]:
        h, t = self.rider_height_m, times.shape[0]
        deck = 0.12
        hip = deck + LEG * h
        still = np.array(
            [
                [0.0, 0.0, hip + 0.3 * TORSO * h],
                [0.0, 0.0, hip + 0.75 * TORSO * h],
                [0.0, 0.0, hip + (TORSO + 0.065) * h],
                [0.15, -0.1, deck + 0.7 * LEG * h],  # front leg
                [0.15, -0.1, deck + 0.25 * LEG * h],
                [-0.15, 0.1, deck + 0.7 * LEG * h],  # back leg
                [-0.15, 0.1, deck + 0.25 * LEG * h],
                [0.3, 0.0, hip + 0.45 * TORSO * h],  # arms to the handlebar
                [0.0, 0.0, deck],  # deck
                [0.45, 0.0, 0.6],  # stem
            ]
        )
        points = np.repeat(still[:, None, :], t, axis=1)
        sway = 0.02 * np.sin(2 * math.pi * self.sway_hz * (times - self.path.t0) + self.sway_phase)
        heights = points[:, :, 2] - deck
        points[:8, :, 0] += sway[None, :] * heights[:8] / (h * 0.9)
        r = self.wheel_radius_m
        hubs = np.array([[0.45, 0.0, r], [-0.4, 0.0, r]])
        wheels = _wheel_points(
            hubs, times, radius=r, per_wheel=self._points_per_wheel,
            omega=self.path.speed_mps / r, layout_seed=self.layout_seed, inner=0.3,
        )  # fmt: skip
        person = human_rcs_m2(h)
        shares = [0.3, 0.3, 0.08, 0.06, 0.04, 0.06, 0.04, 0.12]
        rcs_list = [s * person for s in shares] + [self.deck_rcs_m2 * 0.5, self.deck_rcs_m2 * 0.4]
        rcs_list += [self.deck_rcs_m2 * 0.1 / wheels.shape[0]] * wheels.shape[0]
        local = np.concatenate([points, wheels])
        return self.path.to_ground(local, times), np.array(rcs_list)[:, None]
