"""How `pole-agent commission` asks the installer: a person at the terminal (y/n, numbers and
text, asked again until valid) or an answers file (TOML) for fleets."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any


class AnswerError(Exception):
    """The answers file lacks an answer or has one of the wrong kind."""


class TerminalPrompter:
    """A person at the terminal: y/n questions and numbers, asked again until valid."""

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


class AnswersPrompter:
    """An answers file (TOML, dotted keys as in docs/installer.md): every question must have one."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self._answers = answers
        self.said: list[str] = []

    @classmethod
    def load(cls, path: Path) -> AnswersPrompter:
        try:
            return cls(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise AnswerError(f"{path}: {err}") from None

    def _get(self, key: str) -> Any:
        node: Any = self._answers
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise AnswerError(f"answers file: no answer for {key!r}")
            node = node[part]
        return node

    def say(self, text: str) -> None:
        self.said.append(text)
        print(text, flush=True)

    def confirm(self, key: str, question: str) -> bool:
        value = self._get(f"outputs.{key}")
        if not isinstance(value, bool):
            raise AnswerError(f"answers file: outputs.{key} must be true or false")
        self.say(f"{question} {'y' if value else 'n'} (answers file)")
        return value

    def number(self, key: str, question: str) -> float:
        value = self._get(f"radar.{key}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AnswerError(f"answers file: radar.{key} must be a number")
        return float(value)

    def text(self, key: str, question: str, default: str) -> str:
        try:
            value = self._get(f"zone.{key}")
        except AnswerError:
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise AnswerError(f"answers file: zone.{key} must be text or a number")
        return str(value)


Prompt = TerminalPrompter | AnswersPrompter
