"""What every config section shares: strict models, the secret-key rule, the error that names
the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    model_validator,
)

POLE_ID_PATTERN = r"^[a-z0-9-]{1,64}$"

#: Keys that would hold a secret inline. The config names files that hold secrets instead, so
#: that the config itself can be shown, logged and sent without leaking them.
INLINE_SECRET_KEYS = frozenset({"password", "secret", "token", "key", "private_key"})


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists each one as "key.path: reason"."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in data:
                if key in INLINE_SECRET_KEYS:
                    raise ValueError(
                        f"'{key}' may not be written in the config; put the secret in a file "
                        f"readable only by the agent (mode 0600) and name it with '{key}_file'"
                    )
        return data
