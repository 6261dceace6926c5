"""The pole's place: where it stands and the languages it speaks."""

from __future__ import annotations

import re

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from pole_agent.config.base import (
    StrictModel,
)

LANGUAGE_PATTERN = r"^[a-z]{2,3}$"


class SiteConfig(StrictModel):
    """Where the pole stands and whom it speaks to: set by `pole-agent commission`, reported to
    the city in the commissioning report. The agent does not use the place or the position."""

    place: str = Field(
        default="",
        max_length=120,
        description="A place name people recognise (street, school gate, landmark).",
    )
    latitude: float | None = Field(
        default=None, ge=-90, le=90, description="WGS84 latitude in degrees (north positive)."
    )
    longitude: float | None = Field(
        default=None, ge=-180, le=180, description="WGS84 longitude in degrees (east positive)."
    )
    voice_languages: tuple[str, ...] = Field(
        default=("ko", "en"),
        min_length=1,
        max_length=4,
        description="Languages of the spoken child warning, in the order played (ISO 639 codes "
        "such as 'ko', 'en'). The agent plays child_warning.message; commissioning sets that "
        "list from these languages (the clips of each language in the manifest).",
    )

    @field_validator("voice_languages")
    @classmethod
    def _language_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.fullmatch(LANGUAGE_PATTERN, code):
                raise ValueError(f"{code!r} is not a language code (2-3 lower-case letters)")
        if len(set(value)) != len(value):
            raise ValueError("a language is listed twice")
        return value

    @model_validator(mode="after")
    def _both_coordinates(self) -> SiteConfig:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self
