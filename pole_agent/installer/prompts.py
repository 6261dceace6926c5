"""How `pole-agent commission` asks the installer: a person at the terminal (y/n, numbers, text,
points and a password, asked again until valid) or an answers file (TOML) for fleets.

A key names the answer in the answers file: ``confirm`` looks in ``[outputs]``, ``number`` in
``[radar]``, ``text`` in ``[zone]``, unless the key is dotted (``camera.keep_points``), which is
then the whole path.
"""

from __future__ import annotations

import contextlib
import math
import sys
import termios
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

#: A ground-plane point as the installer gives it: image column, row (pixels), road x, y (m).
PointAnswer = tuple[float, float, float, float]


class AnswerError(Exception):
    """The answers file lacks an answer or has one of the wrong kind."""


class Prompter(Protocol):
    """Asks the installer (a person at a terminal, or an answers file)."""

    def say(self, text: str) -> None: ...

    def confirm(self, key: str, question: str) -> bool: ...

    def number(self, key: str, question: str) -> float: ...

    def text(self, key: str, question: str, default: str) -> str: ...

    def points(self, key: str, question: str) -> list[PointAnswer]: ...

    def secret(self, key: str, question: str) -> str: ...

    scripted: bool
    """True for an answers file: a bad answer stops the run instead of asking again."""


def _path(section: str, key: str) -> str:
    return key if "." in key else f"{section}.{key}"


def parse_point(text: str) -> PointAnswer | None:
    """``"column row x y"`` (spaces or commas) as four finite numbers, else None."""
    parts = text.replace(",", " ").split()
    if len(parts) != 4:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    return values[0], values[1], values[2], values[3]


class TerminalPrompter:
    """A person at the terminal: every question asked again until the answer is valid."""

    scripted = False

    def __init__(self, out: Any = None) -> None:
        self._out = out or sys.stdout

    def say(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def _ask(self, question: str) -> str:
        self._out.write(question + " ")
        self._out.flush()
        line = sys.stdin.readline()
        if not line:
            raise AnswerError("input ended before the question was answered: " + question)
        return line.strip()

    def confirm(self, key: str, question: str) -> bool:
        while True:
            answer = self._ask(f"{question} [y/n]").lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.say("  please answer y or n")

    def number(self, key: str, question: str) -> float:
        while True:
            answer = self._ask(question)
            try:
                return float(answer)
            except ValueError:
                self.say(f"  not a number: {answer!r}")

    def text(self, key: str, question: str, default: str) -> str:
        answer = self._ask(f"{question} [{default}]")
        return answer or default

    def points(self, key: str, question: str) -> list[PointAnswer]:
        self.say(question)
        found: list[PointAnswer] = []
        while True:
            answer = self._ask(f"  point {len(found) + 1} (column row x y; empty line ends)?")
            if not answer:
                return found
            point = parse_point(answer)
            if point is None:
                self.say(f"  four numbers please (pixels, then metres): {answer!r}")
            else:
                found.append(point)

    def secret(self, key: str, question: str) -> str:
        with _no_echo():
            answer = self._ask(question)
        self._out.write("\n")
        return answer


@contextlib.contextmanager
def _no_echo() -> Iterator[None]:
    """Typed characters are not shown (a password), when the input is a terminal."""
    fd = sys.stdin.fileno() if sys.stdin.isatty() else -1
    if fd < 0:
        yield
        return
    old = termios.tcgetattr(fd)
    new = list(old)
    new[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSADRAIN, new)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


class AnswersPrompter:
    """An answers file (TOML, keys as in docs/installer.md): every question must have one."""

    scripted = True

    def __init__(self, answers: dict[str, Any]) -> None:
        self._answers = answers
        self.said: list[str] = []

    @classmethod
    def load(cls, path: Path) -> AnswersPrompter:
        try:
            return cls(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise AnswerError(f"{path}: {err}") from None

    def get(self, key: str) -> Any:
        """The answer at a dotted path (AnswerError when absent)."""
        node: Any = self._answers
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise AnswerError(f"answers file: no answer for {key!r}")
            node = node[part]
        return node

    def has(self, key: str) -> bool:
        try:
            self.get(key)
        except AnswerError:
            return False
        return True

    def say(self, text: str) -> None:
        self.said.append(text)
        print(text, flush=True)

    def confirm(self, key: str, question: str) -> bool:
        path = _path("outputs", key)
        value = self.get(path)
        if not isinstance(value, bool):
            raise AnswerError(f"answers file: {path} must be true or false")
        self.say(f"{question} {'y' if value else 'n'} (answers file)")
        return value

    def number(self, key: str, question: str) -> float:
        path = _path("radar", key)
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AnswerError(f"answers file: {path} must be a number")
        return float(value)

    def text(self, key: str, question: str, default: str) -> str:
        path = _path("zone", key)
        if not self.has(path):
            return default
        value = self.get(path)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "+".join(value)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise AnswerError(f"answers file: {path} must be text or a number")
        return str(value)

    def points(self, key: str, question: str) -> list[PointAnswer]:
        path = _path("camera", key)
        value = self.get(path)
        found: list[PointAnswer] = []
        items: list[Any] = value if isinstance(value, list) else [None]
        for item in items:
            ok = isinstance(item, list) and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in item
            )
            point = parse_point(" ".join(str(v) for v in item)) if ok else None
            if point is None:
                raise AnswerError(
                    f"answers file: {path} must be a list of [column, row, x, y] numbers"
                )
            found.append(point)
        return found

    def secret(self, key: str, question: str) -> str:
        path = _path("secrets", key)
        value = self.get(path)
        if not isinstance(value, str):
            raise AnswerError(f"answers file: {path} must be text")
        return value


Prompt = TerminalPrompter | AnswersPrompter
