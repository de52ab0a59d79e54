"""What every lab's checks share: the result, hints, reference answers and review questions.

Reference answers are not written here: ``tools/make_labs.py`` copies them from the solution
notebooks' ``BEGIN SOLUTION`` regions into ``answers.json``, and its check mode keeps the two
in sync.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from embedlab.errors import EmbedlabError


class ExerciseNotDone(EmbedlabError, RuntimeError):
    """A cell needs an exercise that is not finished yet."""

    def _render_traceback_(
        self,
    ) -> list[str]:  # IPython shows the message, not a traceback
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a check: one line in a notebook; ``bool(result)`` is ``passed``."""

    step: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"[{'PASSED' if self.passed else 'NOT YET'}] {self.step}: {self.message}"


def _load(name: str) -> dict[str, Any]:
    path = resources.files("embedlab.labs" if name == "answers.json" else "embedlab.checks") / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


class Lab:
    """One lab's checks: results, hints, reference answers, review questions, progress."""

    def __init__(self, name: str, hints: dict[str, str]) -> None:
        self.name, self.hints, self.done = name, hints, set[str]()

    def _stuck(self, step: str) -> str:
        return (
            f" Stuck? checks.{self.name}.hint({step!r}) gives a hint; as a last resort "
            f"checks.{self.name}.answer({step!r}) shows the reference answer."
        )

    def passed(self, step: str, message: str) -> CheckResult:
        self.done.add(step)
        return CheckResult(f"Step {step}", True, message)

    def failed(self, step: str, message: str) -> CheckResult:
        self.done.discard(step)
        return CheckResult(f"Step {step}", False, message + self._stuck(step))

    def not_done(self, step: str, what: str) -> CheckResult:
        return self.failed(step, f"{what} is still None: replace the TODO with your code.")

    def needs(self, step: str) -> None:
        """Stop a cell that builds on exercise ``step`` until that exercise passes."""
        if step not in self.done:
            raise ExerciseNotDone(
                f"this cell uses the result of exercise {step}: finish exercise {step} first "
                f"(its check must pass).{self._stuck(step)}"
            )

    def hint(self, step: str) -> None:
        """Print the hint of exercise ``step``."""
        print(self.hints.get(step, f"No hint for {step!r}; exercises: {sorted(self.hints)}."))

    def answer(self, step: str) -> None:
        """Print the reference answer of exercise ``step``, as the solution notebook has it."""
        code = _load("answers.json").get(self.name, {}).get(step)
        print(
            code if code else f"No reference answer for {step!r}; exercises: {sorted(self.hints)}."
        )

    def review(self, answers: dict[Any, Any] | None) -> None:
        """Mark the review questions: for each answer, right or wrong and why."""
        questions = _load(f"{self.name}_review.json").get("questions", [])
        if not answers or all(v is None for v in answers.values()):
            print(f"Answer the {len(questions)} questions first, e.g. {{1: 'b', 2: 'a'}}.")
            return
        right = 0
        for number, q in enumerate(questions, start=1):
            given = answers.get(number, answers.get(str(number)))
            if given is None:
                print(f"{number}. not answered yet.")
                continue
            key = str(given).strip().lower()
            ok = key == q["answer"]
            right += ok
            why = q["why"].get(key, f"{given!r} is not one of the options {sorted(q['why'])}.")
            print(f"{number}. {'right' if ok else 'not quite'} ({key}): {why}")
        print(f"{right} of {len(questions)} right.")
