"""What the pole shows and says, decided from what it perceives. Pure: times come with the calls.

Grown from the beacon policy (beacon_policy.py, whose over-limit rule it inherits unchanged, so
the radar pipeline drives it exactly as before) into every warning a school-zone pole gives:

- **Your speed** (``[sign]``): approaching vehicles only; whole km/h in steady digits (a new
  value at most every ``update_s``); nothing below ``min_display_kmh``; a speed over
  ``max_display_kmh`` is never shown, and a vehicle over it on ``RACER_FRAMES`` consecutive
  frames blanks the display for the rest of its pass (no racing the sign; a lone spike in rain
  is not a racer and leaves the real vehicle's number on); blank
  ``blank_after_s`` after the vehicle is gone; only while the zone is active (unless
  ``show_speed_off_hours``); never in fail-safe (a suspect sensor shows no number).
- **Over the limit** (rule ``over-limit-approaching``, ``[warning]``): beacons and SLOW DOWN.
- **Child crossing** (rule ``child-at-kerb-vehicle-approaching``, ``[child_warning]``): a child
  (or any pedestrian) at the kerb or crosswalk while a vehicle approaches with a time to arrival
  under the threshold (or, arrival unknown, faster than a set speed): the spoken message to the
  pedestrian side, CHILD CROSSING and the beacons to the driver; the voice is not repeated within
  ``cooldown_s``; its volume follows the quiet hours.
- **Fail-safe** (mode from failsafe.py): during school hours the beacons flash steadily and the
  sign shows its fail-safe message; the speed display is blank; nothing is spoken.

Every decision makes a ``DecisionRecord``: what triggered it, which rule, the inputs, the outputs.
Thread-safe (one lock): the radar reader feeds frames while detections may come from other threads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pole_agent.config import (
    AudioConfig,
    ChildWarningConfig,
    SignConfig,
    SignMessage,
    WarningConfig,
)
from pole_agent.decisions.beacon_policy import RULE_OVER_LIMIT, BeaconPolicy, WarningStart
from pole_agent.decisions.failsafe import Mode
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.perception.transit import OpenTransit, Transit
from pole_agent.ports import PedestrianSeen, VehicleApproaching

RULE_CHILD = "child-at-kerb-vehicle-approaching"
RULE_NO_RACING = "display-blank-over-max"
#: Consecutive frames over the display's maximum that make a vehicle a racer (one is a spike).
RACER_FRAMES = 2
RULE_MODE = "fail-safe-state-machine"

RecordValue = str | float | int | bool | None
RecordKind = Literal["over_limit", "child_warning", "display_blanked", "mode"]


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision: when (monotonic), which rule, what triggered it, its inputs, what the pole
    did (``outputs``: e.g. ``beacons``, ``sign:slow_down``, ``voice:car_coming_ko@0.8``)."""

    t: float
    kind: RecordKind
    rule: str
    trigger: str
    inputs: Mapping[str, RecordValue]
    outputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Announcement:
    """Clips to play now, at a volume (0..1)."""

    t: float
    clips: tuple[str, ...]
    volume: float
    reason: str


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """The state every steady output should be in."""

    beacons: bool
    message: SignMessage | None
    speed_kmh: int | None


@dataclass(frozen=True, slots=True)
class _Vehicle:
    t: float
    speed_kmh: float
    arrival_s: float | None
    source: str


@dataclass(frozen=True, slots=True)
class _Frame:
    transit_id: int
    samples: int
    speed_kmh: float
    arrival_s: float | None
    zone: ZoneState
    t: float
    warning: WarningStart | None


def _arrival_s(transit: OpenTransit, speed_kmh: float, t: float) -> float | None:
    """Time to arrival at ``t`` from the transit's last range (OPS243-C), extrapolated at its
    speed; None without a range. (The radar stands at the crossing: its range is the distance
    still to go.)"""
    range_m = getattr(transit, "range_m", None)
    if not isinstance(range_m, int | float) or speed_kmh <= 0:
        return None
    range_t = getattr(transit, "range_t", t)
    elapsed = t - range_t if isinstance(range_t, int | float) else 0.0
    speed_mps = speed_kmh / 3.6
    return max(0.0, float(range_m) - speed_mps * max(0.0, elapsed)) / speed_mps


class WarningPolicy(BeaconPolicy):
    def __init__(
        self,
        warning: WarningConfig,
        sign: SignConfig | None = None,
        child: ChildWarningConfig | None = None,
        audio: AudioConfig | None = None,
    ) -> None:
        super().__init__(warning)
        self._sign = sign or SignConfig()
        self._child = child or ChildWarningConfig()
        self._audio = audio or AudioConfig()
        self._lock = threading.RLock()
        self._zone: ZoneState | None = None
        self._mode: Mode = "normal"
        self._quiet = False
        self._vehicles: dict[tuple[str, int], _Vehicle] = {}
        self._pedestrians: dict[tuple[str, int], PedestrianSeen] = {}
        self._racers: set[int] = set()
        self._over_max: dict[int, int] = {}  # consecutive frames over the display's maximum
        self._shown: int | None = None
        self._shown_changed_t = float("-inf")
        self._seen_t = float("-inf")
        self._child_until = float("-inf")
        self._child_active = False
        self._last_voice_t = float("-inf")
        self._records: list[DecisionRecord] = []
        self._announcements: list[Announcement] = []
        self._pending: list[_Frame] = []

    # -- the radar pipeline's calls (BeaconPolicy's interface) ------------------------------

    def on_frame(
        self, transit: OpenTransit, speed_kmh: float, zone: ZoneState, t: float
    ) -> WarningStart | None:
        """The over-limit rule at once (the caller lights the beacons on its answer); the rest
        of the frame's consequences (display, child rule, records) are worked out when the
        plan is next asked for, which the caller does right after the beacons."""
        with self._lock:
            self._zone = zone
            warning = super().on_frame(transit, speed_kmh, zone, t)
            if transit.direction == "approaching" and speed_kmh > 0:
                # (A zero speed is not a measurement: only frames of an approaching vehicle
                # with a speed feed the display and the child rule.)
                arrival = _arrival_s(transit, speed_kmh, t)
                self._pending.append(
                    _Frame(
                        transit.transit_id, transit.samples, speed_kmh, arrival, zone, t, warning
                    )
                )
            return warning

    def _digest(self) -> None:
        """Work out the consequences of the frames received since the last call."""
        frames, self._pending = self._pending, []
        for frame in frames:
            if frame.samples >= self._config.confirm_frames:
                # Like the over-limit rule, one line alone never makes a vehicle a threat.
                key = ("radar", frame.transit_id)
                self._vehicles[key] = _Vehicle(frame.t, frame.speed_kmh, frame.arrival_s, "radar")
            self._display_frame(frame.transit_id, frame.speed_kmh, frame.zone, frame.t)
            warning, zone = frame.warning, frame.zone
            if warning is not None:
                self._record(
                    frame.t,
                    "over_limit",
                    RULE_OVER_LIMIT,
                    trigger=f"vehicle {warning.transit_id} approaching at "
                    f"{frame.speed_kmh:.1f} km/h over the limit {zone.limit_kmh:g} on "
                    f"{warning.confirm_frames} consecutive frames",
                    inputs={
                        "transit_id": warning.transit_id,
                        "speed_kmh": round(frame.speed_kmh, 1),
                        "limit_kmh": zone.limit_kmh,
                        "confirm_frames": warning.confirm_frames,
                        **self._zone_inputs(zone),
                    },
                    outputs=("beacons", "sign:slow_down"),
                )
            self._evaluate_child(frame.t)

    def missed_frame(self, transit_id: int) -> None:
        with self._lock:
            super().missed_frame(transit_id)

    def on_transit_end(self, transit: Transit) -> bool:
        with self._lock:
            self._digest()
            self._vehicles.pop(("radar", transit.transit_id), None)
            self._racers.discard(transit.transit_id)
            self._over_max.pop(transit.transit_id, None)
            return super().on_transit_end(transit)

    def beacons_on(self, now: float) -> bool:
        return self.plan(now).beacons

    # -- detections and context ---------------------------------------------------------------

    def on_pedestrian(self, seen: PedestrianSeen) -> None:
        with self._lock:
            self._digest()
            self._pedestrians[(seen.source, seen.track_id)] = seen
            self._evaluate_child(seen.t)

    def on_vehicle(self, approaching: VehicleApproaching) -> None:
        with self._lock:
            self._digest()
            key = (approaching.source or "detections", approaching.track_id)
            self._vehicles[key] = _Vehicle(
                approaching.t, approaching.speed_kmh, approaching.arrival_s, key[0]
            )
            self._evaluate_child(approaching.t)

    def on_tick(self, now: float, *, zone: ZoneState, mode: Mode, quiet: bool) -> None:
        """The context, at least once a second: zone, fail-safe mode, quiet hours; expiry."""
        with self._lock:
            self._digest()
            self._zone, self._mode, self._quiet = zone, mode, quiet
            if mode == "fail_safe":
                self._shown = None
            ttl = self._child.pedestrian_ttl_s
            for key in [k for k, p in self._pedestrians.items() if now - p.t > ttl]:
                del self._pedestrians[key]
            ttl = self._child.vehicle_ttl_s
            for key in [
                k for k, v in self._vehicles.items() if k[0] != "radar" and now - v.t > ttl
            ]:
                del self._vehicles[key]
            self._evaluate_child(now)

    # -- what to do now ------------------------------------------------------------------------

    def plan(self, now: float) -> OutputPlan:
        with self._lock:
            self._digest()
            over = super().beacons_on(now)
            child = now < self._child_until
            school_hours = self._zone is None or self._zone.active
            fail = self._mode == "fail_safe" and school_hours
            message: SignMessage | None = None
            if child:
                message = "child_crossing"
            elif over:
                message = "slow_down"
            elif fail:
                message = self._sign.fail_safe_message
            speed = self._shown
            if self._mode == "fail_safe" or now - self._seen_t > self._sign.blank_after_s:
                speed = None
            return OutputPlan(beacons=over or child or fail, message=message, speed_kmh=speed)

    def take_records(self) -> list[DecisionRecord]:
        with self._lock:
            self._digest()
            records, self._records = self._records, []
            return records

    def take_announcements(self) -> list[Announcement]:
        with self._lock:
            self._digest()
            out, self._announcements = self._announcements, []
            return out

    # -- rules ---------------------------------------------------------------------------------

    def _display_frame(self, transit_id: int, speed_kmh: float, zone: ZoneState, t: float) -> None:
        sign = self._sign
        over_max = speed_kmh > sign.max_display_kmh
        if over_max:
            self._over_max[transit_id] = self._over_max.get(transit_id, 0) + 1
        else:
            self._over_max.pop(transit_id, None)
        if self._over_max.get(transit_id, 0) >= RACER_FRAMES and transit_id not in self._racers:
            self._racers.add(transit_id)
            self._record(
                t,
                "display_blanked",
                RULE_NO_RACING,
                trigger=f"vehicle {transit_id} at {speed_kmh:.1f} km/h, over the display's "
                f"maximum {sign.max_display_kmh:g}: speed blanked for the rest of its pass",
                inputs={
                    "transit_id": transit_id,
                    "speed_kmh": round(speed_kmh, 1),
                    "max_display_kmh": sign.max_display_kmh,
                },
                outputs=("display:blank",),
            )
        shown_allowed = (
            sign.show_speed
            and self._mode != "fail_safe"
            and (zone.active or sign.show_speed_off_hours)
        )
        self._seen_t = t
        if (
            not shown_allowed
            or over_max
            or transit_id in self._racers
            or speed_kmh < sign.min_display_kmh
        ):
            self._shown, self._shown_changed_t = None, t
            return
        value = int(speed_kmh + 0.5)
        steady = self._shown is not None and t - self._shown_changed_t < sign.update_s
        if not steady and value != self._shown:
            self._shown, self._shown_changed_t = value, t

    def _evaluate_child(self, now: float) -> None:
        child = self._child
        zone = self._zone
        allowed = child.enabled and (child.when == "always" or (zone is not None and zone.active))
        people = [
            p
            for p in self._pedestrians.values()
            if 0 <= now - p.t <= child.pedestrian_ttl_s
            and (child.who == "any_pedestrian" or p.kind == "child")
        ]
        threats: list[tuple[float, _Vehicle, float | None]] = []
        for vehicle in self._vehicles.values():
            age = now - vehicle.t
            if not 0 <= age <= child.vehicle_ttl_s:
                continue
            if vehicle.arrival_s is not None:
                remaining = max(0.0, vehicle.arrival_s - age)
                if remaining <= child.arrival_threshold_s:
                    threats.append((remaining, vehicle, remaining))
            elif vehicle.speed_kmh > child.unknown_arrival_min_speed_kmh:
                threats.append((child.arrival_threshold_s, vehicle, None))
        if not (allowed and people and threats):
            self._child_active = False
            return
        self._child_until = max(self._child_until, now + child.hold_s)
        _, vehicle, arrival = min(threats, key=lambda item: (item[0], -item[1].speed_kmh))
        person = min(people, key=lambda p: (p.kind != "child", p.range_m or 0.0))
        volume = self._audio.quiet_volume if self._quiet else self._audio.volume
        outputs = ["beacons", "sign:child_crossing"]
        spoke = False
        if self._mode == "fail_safe":
            outputs.append("voice:none (fail-safe)")
        elif volume <= 0:
            outputs.append("voice:none (volume 0)")
        elif now - self._last_voice_t >= child.cooldown_s:
            self._last_voice_t, spoke = now, True
            self._announcements.append(Announcement(now, child.message, volume, RULE_CHILD))
            outputs.append(f"voice:{','.join(child.message)}@{volume:g}")
        else:
            left = child.cooldown_s - (now - self._last_voice_t)
            outputs.append(f"voice:held (cool-down {left:.1f} s left)")
        if self._child_active and not spoke:
            return
        self._child_active = True
        where = f"{person.kind} at the {person.where}"
        if person.range_m is not None:
            where += f" ({person.range_m:.1f} m)"
        when = "arrival unknown" if arrival is None else f"arriving in {arrival:.1f} s"
        self._record(
            now,
            "child_warning",
            RULE_CHILD,
            trigger=f"{where} and a vehicle approaching at {vehicle.speed_kmh:.0f} km/h, {when}",
            inputs={
                "pedestrian_kind": person.kind,
                "pedestrian_where": person.where,
                "pedestrian_range_m": person.range_m,
                "pedestrian_source": person.source,
                "pedestrians": len(people),
                "vehicle_speed_kmh": round(vehicle.speed_kmh, 1),
                "vehicle_arrival_s": None if arrival is None else round(arrival, 2),
                "vehicle_source": vehicle.source,
                "arrival_threshold_s": child.arrival_threshold_s,
                "unknown_arrival_min_speed_kmh": child.unknown_arrival_min_speed_kmh,
                "volume": volume,
                "quiet_hours": self._quiet,
                "mode": self._mode,
                **(self._zone_inputs(zone) if zone is not None else {}),
            },
            outputs=tuple(outputs),
        )

    @staticmethod
    def _zone_inputs(zone: ZoneState) -> dict[str, RecordValue]:
        return {
            "zone_active": zone.active,
            "zone_window": zone.window,
            "limit_kmh": zone.limit_kmh,
            "zone_conservative": zone.conservative,
        }

    def _record(
        self,
        t: float,
        kind: RecordKind,
        rule: str,
        *,
        trigger: str,
        inputs: Mapping[str, RecordValue],
        outputs: tuple[str, ...],
    ) -> None:
        self._records.append(DecisionRecord(t, kind, rule, trigger, dict(inputs), outputs))
