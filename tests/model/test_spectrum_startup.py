"""The kerb radar is told to send spectra: ``radars.kerb.spectrum`` becomes ``OF`` / ``OB`` in
the start-up dialogue, checked against the OPS243 emulator over a real pty."""

from __future__ import annotations

from pathlib import Path

import pytest

from pole_agent.config import RadarConfig
from pole_agent.drivers.ops243_session import SessionAnswers, startup_commands
from pole_agent.perception.radar_lines import SpectrumLine
from tests.radar.rig import bench, wait_for


def test_the_spectrum_command_is_sent_only_when_asked() -> None:
    def texts(spectrum: str) -> list[str]:
        config = RadarConfig.model_validate({"spectrum": spectrum})
        return [c.text for c in startup_commands(config, 5)]

    assert not {"OF", "OB", "Of", "Ob"} & set(texts("off"))
    assert texts("full")[-2:] == ["OF", "C=5"]
    assert texts("band")[-2:] == ["OB", "C=5"]


def test_a_spectrum_echo_that_did_not_take_is_a_problem() -> None:
    answers = SessionAnswers()
    answers.take({"OutputFeature": "M"})
    problems = answers.verify(RadarConfig(spectrum="full"))
    assert "spectrum output is 'M', not 'F'" in problems
    assert not [p for p in answers.verify(RadarConfig()) if "spectrum" in p]


@pytest.mark.parametrize(("setting", "mode"), [("full", "F"), ("band", "B")])
def test_the_emulated_sensor_sends_spectrum_lines_after_start_up(
    tmp_path: Path, setting: str, mode: str
) -> None:
    with bench(tmp_path, factor=1.0, sample_rate_hz=20000, spectrum=setting) as rig:
        assert wait_for(lambda: len(rig.seen.of_type(SpectrumLine)) >= 3, 30), rig.reason()
        assert rig.state() == "ok", rig.reason()
        assert rig.emulator.spectrum.mode == setting
        frames = [line.spectrum for line in rig.seen.of_type(SpectrumLine)]
        assert {f.mode for f in frames} == {mode}
        assert {f.sampling_rate_hz for f in frames} == {20000}


def test_without_the_setting_the_sensor_stays_silent_on_spectra(tmp_path: Path) -> None:
    with bench(tmp_path, factor=1.0) as rig:
        assert wait_for(lambda: rig.state() == "ok", 30), rig.reason()
        assert wait_for(lambda: rig.emulator.lines_written >= 20, 30)
        assert rig.emulator.spectrum.mode == "off"
        assert rig.seen.of_type(SpectrumLine) == []
        assert rig.emulator.spectrum_lines_written == 0
