"""Building the kerb radar model's inference from the config (called once, by app.py).

A model that cannot be used (missing, corrupt, metadata wrong, a specification that does not fit
the kerb radar's settings, no TFLite runtime) never stops the agent: the error is logged with
what to fix, ``model.radar`` is reported ``failed`` on the HealthBoard (the fail-safe logic then
runs the pole in its degraded mode: speed warnings go on, child detection from the radar is
gone), and the agent runs on what it still has.
"""

from __future__ import annotations

import logging

from pole_agent.config import KerbModelConfig, RadarConfig
from pole_agent.drivers.tflite_runtime import Runtime
from pole_agent.health import HealthBoard
from pole_agent.perception.kerb_frames import PedestrianFrames
from pole_agent.perception.kerb_inference import HEALTH_NAME, SOURCE, KerbInference
from pole_agent.perception.kerb_pedestrians import KerbPedestrianLog, PedestrianSink
from pole_agent.perception.radar_model import DEFAULT_MODEL, ModelError, RadarModel
from pole_agent.ports import Clock, Detections

log = logging.getLogger(__name__)


def build_kerb_inference(
    settings: KerbModelConfig,
    kerb: RadarConfig,
    *,
    frames: PedestrianFrames,
    detections: Detections | None,
    health: HealthBoard,
    clock: Clock,
    runtime: Runtime | None = None,
    pedestrian_events: PedestrianSink | None = None,
) -> KerbInference | None:
    """The running part of the kerb model subscribed to the kerb radar's frames, or None when
    the model is disabled or unusable (reported). With ``pedestrian_events`` (the reporter's),
    each pedestrian track it follows becomes one events/pedestrian message
    (``inference.pedestrian_log``; subscribe its ``on_decision`` to the warning decisions)."""
    if not settings.enabled:
        log.info("kerb radar model disabled in the config ([kerb_model] enabled = false)")
        return None
    path = settings.path or DEFAULT_MODEL
    if kerb.spectrum == "off":
        why = (
            "radars.kerb.spectrum is 'off': the kerb radar is not told to send spectra, so the "
            "model would get no input; set it to 'full' (USB) or 'band' (UART)"
        )
        log.error("kerb radar model not started, running on speed only: %s", why)
        health.report(HEALTH_NAME, "failed", f"{why}; running on speed only", clock.monotonic())
        return None
    try:
        model = RadarModel.load(path, sampling_rate_hz=kerb.sample_rate_hz, runtime=runtime)
    except ModelError as err:
        log.error("kerb radar model unusable, running on speed only: %s", err)
        health.report(HEALTH_NAME, "failed", f"{err}; running on speed only", clock.monotonic())
        return None
    overrides = {k: v for k, v in settings.thresholds.model_dump().items() if v is not None}
    inference = KerbInference(
        model,
        model.spec,
        detections=detections,
        health=health,
        clock=clock,
        thresholds={**model.thresholds, **overrides},
        confirm_windows=settings.confirm_windows,
        queue_windows=settings.queue_windows,
        mounting_angle_deg=kerb.mounting_angle_deg,
        description=model.describe(),
        model_name=model.meta.name,
        model_version=model.meta.version,
        pedestrian_log=(
            None
            if pedestrian_events is None
            else KerbPedestrianLog(pedestrian_events, SOURCE, model.verdict_margins)
        ),
        margins=model.verdict_margins,
        unsure_as=settings.unsure_person_as,
    )
    frames.subscribe(inference.on_frame)
    log.info("kerb radar model %s loaded from %s", model.describe(), path)
    return inference
