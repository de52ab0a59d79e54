"""What every lab module shares: one way to write a check, hints, answers, review questions.

A check is a function that returns a success message or raises :class:`Mistake` with a
message that names the mistake without giving the answer away::

    LAB = Lab("lab9", hints={"a": "..."}, questions=[Question(...)])

    @LAB.check("a")
    def check_a(total):
        if as_number(given(total, "total"), "total") != 4:
            raise Mistake("total is not the sum of the list.")
        return "the total is right."

``check_a(...)`` then returns a :class:`CheckResult` (one line in a notebook). Whatever a
learner passes, a check never shows a traceback from inside embedlab: an answer it cannot
read gets a message that names the argument and what was expected.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError

__all__ = [
    "CheckResult",
    "ExerciseNotDone",
    "Lab",
    "Mistake",
    "NotDone",
    "Question",
    "as_array",
    "as_number",
    "given",
    "same_number",
]


class Mistake(Exception):
    """A wrong answer: the message names the mistake (never the solution)."""


class NotDone(Mistake):
    """An answer that is still ``None``: the exercise's stub was not replaced yet."""


class ExerciseNotDone(EmbedlabError, RuntimeError):
    """A cell needs an exercise that is not finished yet."""

    def _render_traceback_(self) -> list[str]:  # IPython shows the message, no traceback
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


@dataclass(frozen=True)
class Question:
    """A review question: options by letter, the right letter, and why for every letter."""

    text: str
    options: dict[str, str]
    answer: str
    why: dict[str, str]

    def markdown(self, number: int) -> str:
        lines = [f"{number}. {self.text}"]
        lines += [f"   - **{letter}.** {text}" for letter, text in self.options.items()]
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading answers


def given(value: Any, name: str) -> Any:
    """``value``, or :class:`NotDone` if it is still ``None``."""
    if value is None:
        raise NotDone(f"{name} is still None: replace the TODO with your code.")
    if callable(value) and not isinstance(value, type) and not hasattr(value, "shape"):
        what = getattr(value, "__qualname__", type(value).__name__)
        raise Mistake(
            f"{name} is the function or method {what}, not its result: add the call's "
            "parentheses and arguments."
        )
    return value


def _plain(value: Any) -> Any:
    """A torch tensor or pandas object as NumPy; anything else unchanged."""
    if hasattr(value, "detach"):  # torch, on any device
        return value.detach().cpu().numpy()
    if hasattr(value, "to_numpy"):  # pandas
        return value.to_numpy()
    return value


def as_number(value: Any, name: str) -> float:
    """One finite real number from a Python, NumPy or torch scalar (or a one-element array)."""
    given(value, name)
    if isinstance(value, str):
        raise Mistake(
            f"{name} is the text {value!r}: give the number itself (a float), not a string."
        )
    if isinstance(value, bool | np.bool_):
        raise Mistake(f"{name} is {value}, a yes/no value: it should be a number.")
    try:
        arr = np.asarray(_plain(value)) if not isinstance(value, int | float) else None
    except (TypeError, ValueError):  # a ragged list, an object NumPy cannot read
        raise Mistake(f"{name} should be one number, got a {type(value).__name__}.") from None
    if arr is not None:
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise Mistake(f"{name} should be one number, got a {type(value).__name__}.")
        if arr.size != 1:
            raise Mistake(
                f"{name} holds {arr.size} numbers (shape {arr.shape}); it should be one number."
            )
        value = arr.reshape(()).item()
    if isinstance(value, complex) or not math.isfinite(float(value)):
        raise Mistake(f"{name} = {value!r} is not a finite real number.")
    return float(value)


def as_array(value: Any, name: str) -> np.ndarray:
    """A float64 NumPy array from an array, a tensor (any device), a DataFrame or a list."""
    given(value, name)
    if isinstance(value, Mapping):
        raise Mistake(f"{name} is a dict; it should be an array of numbers.")
    try:
        arr = np.asarray(_plain(value), dtype=np.float64)
    except (TypeError, ValueError):
        raise Mistake(
            f"{name} should be an array of numbers, got a {type(value).__name__}."
        ) from None
    if not np.isfinite(arr).all():
        raise Mistake(f"{name} contains NaN or infinite values.")
    return arr


def same_number(value: float, want: float, *, decimals: int | None = None, rtol=1e-4) -> bool:
    """``value`` equals ``want``, or ``want`` rounded to ``decimals`` (as a notebook prints)."""
    if math.isclose(value, want, rel_tol=rtol, abs_tol=1e-9):
        return True
    return decimals is not None and abs(value - want) <= 0.5 * 10.0**-decimals + 1e-9


def _letter(value: Any, options: Mapping[str, str]) -> str | None:
    """A review answer as an option letter: 'b', 'B', '(b)', 'b)', 'b.' or the option's text."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = re.fullmatch(r"\W*([A-Za-z])\W*", text)
    if match:
        return match[1].lower()
    by_text = {t.strip().lower().rstrip("."): k for k, t in options.items()}
    return by_text.get(text.lower().rstrip("."))


# --------------------------------------------------------------------------- one lab


class Lab:
    """One lab's checks: results, hints, reference answers, review questions, progress."""

    def __init__(self, name: str, hints: dict[str, str], questions: Sequence[Question]) -> None:
        self.name, self.hints, self.questions = name, hints, list(questions)
        self.done: set[str] = set()

    def _stuck(self, step: str) -> str:
        return (
            f" Stuck? {self.name}.hint({step!r}) gives a hint; as a last resort "
            f"{self.name}.answer({step!r}) shows the reference answer."
        )

    def check(self, step: str) -> Callable[[Callable[..., str]], Callable[..., CheckResult]]:
        """Turn a function that returns a success message, or raises, into a check."""

        def wrap(fn: Callable[..., str]) -> Callable[..., CheckResult]:
            @functools.wraps(fn)
            def run(*args: Any, **kwargs: Any) -> CheckResult:
                try:
                    message = fn(*args, **kwargs)
                except NotDone as exc:
                    self.done.discard(step)
                    return CheckResult(f"Step {step}", False, str(exc))
                except Mistake as exc:
                    self.done.discard(step)
                    return CheckResult(f"Step {step}", False, str(exc) + self._stuck(step))
                except Exception as exc:  # an answer of a shape no check foresaw
                    self.done.discard(step)
                    return CheckResult(
                        f"Step {step}",
                        False,
                        f"the check could not read your answer ({type(exc).__name__}: "
                        f"{str(exc)[:200]}). Check that each variable holds what the exercise "
                        f"asks for, in that form.{self._stuck(step)}",
                    )
                self.done.add(step)
                return CheckResult(f"Step {step}", True, message)

            return run

        return wrap

    def needs(self, step: str) -> None:
        """Stop a cell that builds on exercise ``step`` until that exercise passes."""
        if step not in self.done:
            raise ExerciseNotDone(
                f"this cell uses the result of exercise {step}: finish exercise {step} first "
                f"(its check must pass).{self._stuck(step)}"
            )

    def hint(self, step: Any = None) -> None:
        """Print the hint of exercise ``step`` (with no step: which hints there are)."""
        steps = ", ".join(repr(s) for s in self.hints)
        if step is None:
            first = next(iter(self.hints), "a")
            print(f"Give the exercise, e.g. {self.name}.hint({first!r}). Exercises: {steps}.")
            return
        print(self.hints.get(str(step).strip(), f"No hint for {step!r}; exercises: {steps}."))

    def answer(self, step: Any = None) -> None:
        """Print the reference answer of exercise ``step``, as the solution notebook has it."""
        steps = ", ".join(repr(s) for s in self.hints)
        path = resources.files("embedlab.labs") / "answers.json"
        answers = json.loads(path.read_text(encoding="utf-8")).get(self.name, {})
        if step is None:
            first = next(iter(self.hints), "a")
            print(f"Give the exercise, e.g. {self.name}.answer({first!r}). Exercises: {steps}.")
            return
        print(answers.get(str(step).strip()) or f"No answer for {step!r}; exercises: {steps}.")

    def review_markdown(self) -> str:
        """The review questions as the notebook shows them (``tools/make_labs.py`` writes it)."""
        body = "\n".join(q.markdown(i) for i, q in enumerate(self.questions, start=1))
        return f"## Review\n\n{body}"

    def review(self, answers: Any) -> None:
        """Mark the review answers (``{1: 'b', 2: 'a'}``, or a list in order): right or
        wrong, and why."""
        n = len(self.questions)
        if isinstance(answers, str):
            answers = list(answers.replace(",", " ").split()) or None
        if isinstance(answers, list | tuple):
            answers = dict(enumerate(answers, start=1))
        example = "{1: 'b', 2: 'a', ...}"
        if not isinstance(answers, Mapping):
            print(f"Give your answers as a dict, e.g. {example}, one letter per question.")
            return
        if all(v is None for v in answers.values()):
            print(f"Answer the {n} questions first, e.g. {example}.")
            return
        right = 0
        for number, q in enumerate(self.questions, start=1):
            given_ = answers.get(number, answers.get(str(number)))
            if given_ is None:
                print(f"{number}. not answered yet.")
                continue
            key = _letter(given_, q.options)
            if key not in q.options:
                print(f"{number}. {given_!r} is not one of the options {', '.join(q.options)}.")
                continue
            right += key == q.answer
            print(f"{number}. {'right' if key == q.answer else 'not quite'} ({key}): {q.why[key]}")
        print(f"{right} of {n} right.")


def call_quietly(fn: Callable[..., Any], *args: Any) -> tuple[Any, str]:
    """Call a learner's function; return its result and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = fn(*args)
    return result, out.getvalue()
