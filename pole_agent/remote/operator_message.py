"""The city's operator text on the LED sign (the ``set_message`` command), below every warning.

``OperatorSign`` sits between the warning outputs and the sign driver and is itself the
SignOutput port: the warning path keeps calling ``show`` with what its rules want (a preset, or
None). A preset (child crossing, slow down, the fail-safe message) always goes to the sign; only
when the rules want nothing does the operator text show, and it comes back by itself after a
warning while it is still valid. It ends at its expiry (on the monotonic clock: a wall-clock jump
can neither stretch nor cut it), on ``clear``, when the broker has been unreachable for
``[remote].comms_loss_s`` (reliability row 19: no stale remote message) and at every restart
(it is never stored: the sign's default is the local rules).

The text goes to the sign as SPSIGN/1 ``M "<text>"`` (docs/remote.md): printable ASCII without
``"``, at most ``[remote].message_max_chars``. A sign driven by preset lines (GPIO) cannot show a
text at all; ``set_message`` then fails and says so.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pole_agent.config import validation_problems
from pole_agent.ports import Clock, SignOutput
from pole_agent.remote.envelope import Rejected

log = logging.getLogger(__name__)

SIGN_TEXT = re.compile(r"[ !#-~]*")
"""What SPSIGN/1 carries in a text: printable ASCII (space to '~') but the quote."""
MIN_DURATION_S = 10.0


class SetMessageArgs(BaseModel):
    """``set_message`` args: ``text`` and ``duration_s``, or ``clear: true`` alone. Strict: JSON
    types as they are (``"clear": "yes"`` or ``"duration_s": true`` are refused, not guessed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    text: str | None = Field(default=None, description="The operator text.")
    duration_s: float | None = Field(default=None, description="How long it stays (s).")
    clear: bool = Field(default=False, description="Remove the operator text instead.")

    @model_validator(mode="after")
    def _one_or_the_other(self) -> SetMessageArgs:
        if self.clear and (self.text is not None or self.duration_s is not None):
            raise ValueError("clear takes no text or duration_s")
        if not self.clear and (self.text is None or self.duration_s is None):
            raise ValueError("text and duration_s are both required (or clear: true)")
        return self


@dataclass(frozen=True)
class OperatorText:
    text: str
    until: float
    """On the monotonic clock."""
    until_wall: datetime
    command_id: str


def parse_set_message(args: dict[str, Any], *, max_chars: int, max_s: float) -> SetMessageArgs:
    """The checked args, or Rejected('invalid') naming each thing wrong."""
    try:
        parsed = SetMessageArgs.model_validate(args)
    except ValidationError as err:
        raise Rejected("invalid", "args: " + "; ".join(validation_problems(err))) from None
    problems: list[str] = []
    if parsed.text is not None:
        text = parsed.text
        if not text.strip():
            problems.append("args.text: empty")
        if len(text) > max_chars:
            problems.append(f"args.text: {len(text)} characters, the sign shows {max_chars}")
        bad = sorted({ch for ch in text if not SIGN_TEXT.fullmatch(ch)})
        if bad:
            shown = ", ".join(repr(ch) for ch in bad[:5])
            problems.append(
                f"args.text: characters the sign cannot show: {shown} "
                "(printable ASCII only, no '\"')"
            )
    if parsed.duration_s is not None and not MIN_DURATION_S <= parsed.duration_s <= max_s:
        problems.append(
            f"args.duration_s: {parsed.duration_s:g} s is outside {MIN_DURATION_S:g}..{max_s:g} s"
        )
    if problems:
        raise Rejected("invalid", "; ".join(problems))
    return parsed


def sign_code(text: str) -> str:
    """What SignOutput.show gets for an operator text (SPSIGN/1 ``M "<text>"``)."""
    return f'"{text}"'


class OperatorSign:
    """The SignOutput port with the operator text below the warnings (see the module)."""

    def __init__(self, sign: SignOutput, clock: Clock, *, shows_text: bool) -> None:
        self._sign = sign
        self._clock = clock
        self.shows_text = shows_text
        """False for a sign of preset lines only: no text can be shown."""
        self._lock = threading.Lock()
        self._wanted: str | None = None
        self._text: OperatorText | None = None
        self.ended: list[tuple[str, str]] = []
        """(text, why) of the last operator texts that ended (for status views and tests)."""

    @property
    def operator_text(self) -> OperatorText | None:
        with self._lock:
            return self._text

    @property
    def inner(self) -> SignOutput:
        return self._sign

    # -- SignOutput: the warning path ----------------------------------------------------------

    def show(self, message: str | None) -> None:
        with self._lock:
            self._wanted = message
            self._update()

    def close(self) -> None:
        with self._lock:
            self._text = None
        self._sign.close()

    # -- the operator side (remote commands, the remote tick) ---------------------------------

    def set_text(self, text: str, duration_s: float, command_id: str) -> OperatorText:
        now = self._clock.monotonic()
        item = OperatorText(
            text, now + duration_s, self._clock.wall() + timedelta(seconds=duration_s), command_id
        )
        with self._lock:
            self._text = item
            self._update()
        log.info("operator text %r on the sign for %g s", text, duration_s)
        return item

    def clear(self, why: str) -> bool:
        """Remove the operator text (True if there was one)."""
        with self._lock:
            item = self._text
            if item is None:
                return False
            self._end(item, why)
            self._update()
            return True

    def expire(self) -> None:
        """End a text whose time is up even if the warning path is not calling ``show``."""
        with self._lock:
            self._update()

    @property
    def warning_shown(self) -> str | None:
        with self._lock:
            return self._wanted

    def _end(self, item: OperatorText, why: str) -> None:
        self._text = None
        self.ended = [*self.ended[-9:], (item.text, why)]
        log.info("operator text %r removed: %s", item.text, why)

    def _update(self) -> None:
        item = self._text
        if item is not None and self._clock.monotonic() >= item.until:
            self._end(item, "expired")
            item = None
        if self._wanted is not None or item is None or not self.shows_text:
            self._sign.show(self._wanted)
        else:
            self._sign.show(sign_code(item.text))
