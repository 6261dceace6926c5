"""Step 5 of `pole-agent commission`: the zone and the site, asked with the config's values as
defaults (Enter keeps them): pole id, place name and position, the speed-limit schedule (limit,
active hours, off-hours limit; the time-of-day windows are kept as configured and shown), the
school calendar, and the languages of the voice. Each answer is validated as the config would
validate it; a person is asked again, an answers file stops the run (exit 2).

The languages choose the clips of the spoken child warning (``child_warning.message``): the
tones of the present message are kept in front, then for each language the present message's
speech clips in it, or their counterparts in the clip manifest (``car_coming_ko`` ->
``car_coming_en``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, TypeVar

from pole_agent.audio.clips import CLIPS_DIR, ClipError, ClipInfo, read_manifest
from pole_agent.config import (
    LANGUAGE_PATTERN,
    POLE_ID_PATTERN,
    ConfigError,
    PoleConfig,
)
from pole_agent.decisions.school_calendar import load_calendar
from pole_agent.installer.prompts import AnswerError, Prompter
from pole_agent.installer.report import CheckResult

T = TypeVar("T")
NONE_WORD = "-"


def ask_valid(ask: Prompter, key: str, question: str, default: str, parse: Callable[[str], T]) -> T:
    """Ask until ``parse`` accepts the answer (it raises ValueError saying why not)."""
    while True:
        text = ask.text(key, question, default).strip()
        try:
            return parse(text)
        except ValueError as err:
            if ask.scripted:
                raise AnswerError(f"answers file: {key}: {err}") from None
            ask.say(f"  {err}")


def parse_pole_id(text: str) -> str:
    if not re.fullmatch(POLE_ID_PATTERN, text):
        raise ValueError(f"{text!r}: lower-case letters, digits and '-' only (1 to 64)")
    return text


def parse_limit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 5.0 <= value <= 130.0:
        raise ValueError(f"not a speed limit in km/h (5..130): {text!r}")
    return value


def parse_place(text: str) -> str:
    if len(text) > 120:
        raise ValueError("at most 120 characters")
    return text


def parse_position(text: str) -> tuple[float, float] | None:
    """``"lat, lon"`` in decimal degrees, or ``-`` for none."""
    if text in ("", NONE_WORD):
        return None
    parts = text.replace(",", " ").split()
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"give 'latitude, longitude' in decimal degrees: {text!r}") from None
    if not -90 <= lat <= 90:
        raise ValueError(f"latitude {lat:g} is not within -90..90")
    if not -180 <= lon <= 180:
        raise ValueError(f"longitude {lon:g} is not within -180..180")
    if lat == 0 and lon == 0:
        raise ValueError("0, 0 is in the Gulf of Guinea: give the pole's own position")
    return lat, lon


def parse_window(text: str) -> tuple[str, str]:
    """``"HH:MM-HH:MM"``."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
    if match is None:
        raise ValueError(f"give the active hours as HH:MM-HH:MM: {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"not a time of day: {text!r}") from None
    return start.strftime("%H:%M"), end.strftime("%H:%M")


def parse_languages(text: str) -> tuple[str, ...]:
    codes = tuple(c for c in re.split(r"[+,\s]+", text.lower()) if c)
    if not codes or any(not re.fullmatch(LANGUAGE_PATTERN, c) for c in codes):
        raise ValueError(f"give language codes such as ko, en or ko+en: {text!r}")
    if len(set(codes)) != len(codes):
        raise ValueError("a language is listed twice")
    return codes


def voice_clips(
    current: tuple[str, ...], languages: tuple[str, ...], clips: dict[str, ClipInfo]
) -> tuple[str, ...]:
    """The child warning's clips for ``languages`` (ValueError naming a language without one)."""
    tones = [c for c in current if c in clips and clips[c].kind != "speech"]
    speech = [c for c in current if c in clips and clips[c].kind == "speech"]
    chosen = list(tones)
    stems = sorted({c.rsplit("_", 1)[0] for c in speech})
    for language in languages:
        mine = [c for c in speech if clips[c].language == language]
        mine = mine or [f"{s}_{language}" for s in stems if f"{s}_{language}" in clips]
        mine = (
            mine
            or [n for n, c in clips.items() if c.kind == "speech" and c.language == language][:1]
        )
        if not mine:
            have = sorted({c.language for c in clips.values() if c.language})
            raise ValueError(f"no spoken clip in {language!r} (clips exist in {', '.join(have)})")
        chosen += mine
    return tuple(chosen)


@dataclass
class ZoneAnswers:
    pole_id: str
    place: str
    position: tuple[float, float] | None
    limit_kmh: float
    active: tuple[str, str]
    off_hours_kmh: float
    calendar: Path | None
    languages: tuple[str, ...]
    message: tuple[str, ...]
    facts: dict[str, str] = field(default_factory=dict)

    def changes(self) -> dict[str, Any]:
        """The config keys these answers set (see commission.write_config)."""
        site: dict[str, Any] = {"place": self.place, "voice_languages": list(self.languages)}
        if self.position is not None:
            site["latitude"], site["longitude"] = self.position
        zone: dict[str, Any] = {
            "speed_limit_kmh": self.limit_kmh,
            "off_hours_limit_kmh": self.off_hours_kmh,
            "active": {"start": self.active[0], "end": self.active[1]},
        }
        if self.calendar is not None:
            zone["calendar_file"] = str(self.calendar)
        return {
            "pole_id": self.pole_id,
            "site": site,
            "zone": zone,
            "child_warning": {"message": list(self.message)},
        }


def zone_step(config: PoleConfig, ask: Prompter) -> tuple[list[CheckResult], ZoneAnswers]:
    zone, site = config.zone, config.site
    pole_id = ask_valid(ask, "pole_id", "Pole id?", config.pole_id, parse_pole_id)
    place = ask_valid(ask, "place", "Place name (street, school gate)?", site.place, parse_place)
    here = f"{site.latitude:g}, {site.longitude:g}" if site.latitude is not None else NONE_WORD
    position = ask_valid(
        ask, "position", "Position: latitude, longitude (decimal degrees)?", here, parse_position
    )
    limit = ask_valid(
        ask,
        "speed_limit_kmh",
        "Speed limit in the zone (km/h)?",
        f"{zone.speed_limit_kmh:g}",
        parse_limit,
    )
    hours = f"{zone.active.start:%H:%M}-{zone.active.end:%H:%M}"
    active = ask_valid(ask, "active", "Active hours (HH:MM-HH:MM)?", hours, parse_window)
    off_hours = ask_valid(
        ask,
        "off_hours_limit_kmh",
        "Limit outside those hours (km/h)?",
        f"{zone.off_hours_limit_kmh:g}",
        parse_limit,
    )
    results: list[CheckResult] = []
    calendar = _calendar(ask, zone.calendar_file, results)
    try:
        _, clips = read_manifest(config.audio.clips_dir or CLIPS_DIR)
    except ClipError as err:
        clips = {}
        results.append(
            CheckResult(
                name="voice language",
                outcome="fail",
                detail=str(err),
                fix="reinstall the release (the clips ship with it)",
            )
        )
    current = config.child_warning.message

    def languages_and_clips(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        codes = parse_languages(text)
        return codes, voice_clips(current, codes, clips) if clips else current

    languages, message = ask_valid(
        ask,
        "language",
        "Languages of the voice (ko, en, ko+en)?",
        "+".join(site.voice_languages),
        languages_and_clips,
    )
    where = place or "(no place name)"
    if position is not None:
        where += f" at {position[0]:.5f}, {position[1]:.5f}"
    windows = f"; {len(zone.windows)} time-of-day window(s) kept" if zone.windows else ""
    results[:0] = [
        CheckResult(name="pole id", outcome="pass", detail=pole_id),
        CheckResult(
            name="location",
            outcome="pass" if position is not None else "warn",
            detail=where,
            fix="" if position is not None else "give the pole's position for the city's map",
        ),
        CheckResult(
            name="speed-limit schedule",
            outcome="pass",
            detail=f"{limit:g} km/h {active[0]}-{active[1]}, else {off_hours:g} km/h{windows}",
        ),
    ]
    if clips:
        results.append(
            CheckResult(
                name="voice language",
                outcome="pass",
                detail=f"{'+'.join(languages)}: child warning plays {' + '.join(message)}",
            )
        )
    answers = ZoneAnswers(
        pole_id, place, position, limit, active, off_hours, calendar, languages, message
    )
    answers.facts = {
        "place": where,
        "limit": results[2].detail,
        "voice": "+".join(languages),
        "calendar": str(calendar) if calendar is not None else "none (school weekdays only)",
    }
    return results, answers


def _calendar(ask: Prompter, current: Path | None, results: list[CheckResult]) -> Path | None:
    def parse(text: str) -> Path | None:
        if text in ("", NONE_WORD):
            return None
        path = Path(text).expanduser().resolve()
        try:
            calendar = load_calendar(path)
        except ConfigError as err:
            raise ValueError("; ".join(err.problems)) from None
        days = len(calendar.holiday) + len(calendar.vacation) + len(calendar.school_day)
        results.append(
            CheckResult(
                name="school calendar", outcome="pass", detail=f"{path.name}: {days} entries"
            )
        )
        return path

    path = ask_valid(
        ask,
        "calendar_file",
        "School calendar file ('-' for none)?",
        str(current) if current is not None else NONE_WORD,
        parse,
    )
    if path is None:
        results.append(
            CheckResult(
                name="school calendar",
                outcome="warn",
                detail="none: every school weekday is a school day, holidays included",
                fix="give the school's calendar (deploy/config/school-calendar.example.toml)",
            )
        )
    return path
