"""The serial driver against the OPS243 emulator on a real pty: start-up, identity, and each
injected fault with its health outcome (times on the simulated clock)."""

from __future__ import annotations

import time
from pathlib import Path

from pole_agent.perception.radar_lines import (
    NoTarget,
    RangeFrame,
    SpeedFrame,
)
from simulator.world import Vehicle
from tests.radar.rig import NAME, bench, wait_for

STALE_S = 2.0


def test_startup_configures_verifies_and_reports_the_identity(tmp_path: Path) -> None:
    with bench(tmp_path, reports_per_frame=3, min_speed_kmh=2.0, min_magnitude=5) as rig:
        assert wait_for(lambda: rig.state() == "ok")
        assert rig.reason().startswith("reading ")
        settings = rig.emulator.settings
        identity = rig.radar.identity
    assert settings.units == "km-per-hr"
    assert settings.json_output and settings.magnitude_output
    assert settings.sampling_rate_hz == 20000
    assert settings.reports_per_frame == 3
    assert settings.blank_mode == "zeros"
    assert abs(settings.min_speed_mps * 3.6 - 2.0) < 1e-9
    assert settings.min_magnitude == 5
    assert identity is not None
    assert identity.product == "OPS243 Doppler"
    assert identity.version == "1.3.1"
    assert identity.uid and len(identity.uid) == 24
    assert identity.sampling_rate_hz == 20000
    assert identity.resolution is not None and 0.12 < identity.resolution < 0.13
    assert identity.as_dict()["model"] == "OPS243-A"
    assert rig.radar.stats.echoes_missing == 0
    assert rig.radar.stats.problems == []


def test_a_doppler_sensor_configured_as_ops243_c_is_degraded(tmp_path: Path) -> None:
    with bench(tmp_path, model="OPS243-A") as rig:
        rig.radar.stop()
        rig.emulator.stop()
    # The same emulator model, but the config claims range: the driver must notice.
    from pole_agent.config import RadarConfig
    from pole_agent.drivers.serial_radar import SerialRadar

    with bench(tmp_path, start=False) as rig:
        config = RadarConfig(port=rig.emulator.port, model="OPS243-C", reopen_max_s=0.5)
        driver = SerialRadar(
            config, rig.clock, rig.seen.on_parsed, lambda now: None, health=rig.board
        )
        rig.emulator.start()
        driver.start()
        try:
            assert wait_for(lambda: rig.state() == "degraded")
            reason = rig.reason()
        finally:
            driver.stop()
    assert "OPS243-C" in reason and "no range" in reason
    assert "OD" in reason  # the -A refuses range output


def test_ops243_c_reports_range_with_its_speeds(tmp_path: Path) -> None:
    vehicles = [Vehicle(1, 1.0, 36.0, "approaching")]
    with bench(tmp_path, vehicles, model="OPS243-C") as rig:
        assert wait_for(lambda: len(rig.seen.of_type(RangeFrame)) >= 10)
        identity = rig.radar.identity
    assert identity is not None and identity.product == "OPS243-C FMCW & Doppler"
    ranges = [r.ranges_m[0] for r in rig.seen.of_type(RangeFrame)]
    assert all(3.0 <= r <= 53.0 for r in ranges)
    assert ranges[0] > ranges[-1]  # approaching


def test_unplug_and_replug_reopens_and_recovers(tmp_path: Path) -> None:
    vehicles = [Vehicle(1, 1.0, 30.0, "receding")]
    with bench(tmp_path, vehicles) as rig:
        assert wait_for(lambda: rig.state() == "ok")
        rig.emulator.unplug()
        assert wait_for(lambda: rig.state() == "failed")
        assert "link lost" in rig.reason() or "cannot open" in rig.reason()
        rig.emulator.replug()  # a power cycle: factory settings until the driver re-sends them
        assert wait_for(lambda: rig.state() == "ok")
        assert wait_for(lambda: rig.emulator.settings.json_output)
        opens = rig.radar.stats.opens
    assert opens >= 2
    states = [h.state for h in rig.seen.health if h.name == NAME]
    assert states[:3] == ["ok", "failed", "ok"] or states[0] == "ok"


def test_a_silent_sensor_is_stale_within_its_timeout_and_recovers(tmp_path: Path) -> None:
    with bench(tmp_path, stale_after_s=STALE_S) as rig:
        assert wait_for(lambda: rig.state() == "ok")
        assert wait_for(lambda: len(rig.seen.of_type(NoTarget)) > 3)  # BZ: zeros every frame
        silent_at = rig.clock.monotonic()
        rig.emulator.set_silent(True)
        assert wait_for(lambda: rig.state() == "failed")
        failed = rig.board.get(NAME)
        rig.emulator.set_silent(False)
        assert wait_for(lambda: rig.state() == "ok")
    assert failed is not None and failed.reason.startswith("stale")
    # Measured on the simulated clock: the timeout, plus one frame and one tick of slack.
    assert STALE_S <= failed.since - silent_at + 0.1 <= STALE_S + 0.6


def test_a_stuck_sensor_is_failed_and_recovers_when_values_move(tmp_path: Path) -> None:
    with bench(tmp_path, stuck_after_s=3.0) as rig:
        assert wait_for(lambda: rig.state() == "ok")
        stuck_at = rig.clock.monotonic()
        rig.emulator.set_stuck(44.0)
        assert wait_for(lambda: rig.state() == "failed")
        failed = rig.board.get(NAME)
        rig.emulator.set_stuck(None)  # back to an empty road: zeros
        assert wait_for(lambda: rig.state() == "ok")
    assert failed is not None and failed.reason.startswith("stuck")
    assert 3.0 <= failed.since - stuck_at <= 3.0 + 0.8


def test_garbage_and_wrong_baud_bytes_are_counted_and_never_fail_the_sensor(
    tmp_path: Path,
) -> None:
    with bench(tmp_path) as rig:
        assert wait_for(lambda: rig.state() == "ok")
        for seed in range(20):
            rig.emulator.inject_garbage(60, seed=seed)
        rig.emulator.inject_line(b'999\r\n{"speed":NaN}\r\n{"speed":3,"range":-2}\r\n')
        assert wait_for(lambda: rig.radar.stats.rejected.total() >= 23)
        time.sleep(0.2)
        state = rig.state()
        rejected = dict(rig.radar.stats.rejected)
        alive = rig.radar.alive
    assert alive and state == "ok"
    assert rejected["not_text"] >= 20
    assert rejected["out_of_range"] == 1
    assert rejected["not_finite"] == 1
    assert rejected["negative_range"] == 1


def test_a_burst_and_split_lines_are_all_read(tmp_path: Path) -> None:
    with bench(tmp_path) as rig:
        assert wait_for(lambda: rig.state() == "ok")
        before = len(rig.seen.of_type(SpeedFrame))
        burst = b"".join(f'{{"speed":{20 + i % 5}.5}}\r\n'.encode() for i in range(400))
        rig.emulator.set_silent(True)  # no frame of the sensor's own between the halves
        time.sleep(0.05)
        rig.emulator.inject_line(burst)
        rig.emulator.inject_line(b'{"spe')
        time.sleep(0.05)
        rig.emulator.inject_line(b'ed":33.25}\r\n')
        rig.emulator.set_silent(False)
        assert wait_for(lambda: len(rig.seen.of_type(SpeedFrame)) >= before + 401)
        frames = rig.seen.of_type(SpeedFrame)[before:]
        rejected = rig.radar.stats.rejected.total()
    assert [f.speed_kmh for f in frames[-1:]] == [33.25]
    assert rejected == 0
