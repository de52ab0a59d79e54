"""The learner-answer catalogue's format, shared by ``tests/test_learner_answers_lab*.py``.

Each case is what a learner might type in one exercise cell: the code, the verdict the check
must give and a fragment its message must contain. :func:`judge` runs the code in a copy of
the notebook's state at that exercise, calls the check the way the notebook does, and
asserts the verdict, the fragment, that the check did not raise (no traceback from inside
embedlab), that the safety net was not needed (the message is specific), and that a failure
message gives none of the ``secrets`` away (the reference answer's numbers or code).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from embedlab.labs.base import CheckResult

SAFETY_NET = "could not read your answer"


@dataclass(frozen=True)
class Case:
    """One learner answer: ``code`` runs in the exercise's namespace."""

    id: str
    step: str
    code: str
    passed: bool
    says: str = ""


def params(lab: str, cases: Iterable[Case]) -> list:
    """pytest parameters, one id per case: ``learner_answers-<lab>-<step>-<id>``."""
    cases = list(cases)
    ids = [f"learner_answers-{lab}-{c.step}-{c.id}" for c in cases]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    return [pytest.param(c, id=i) for c, i in zip(cases, ids, strict=True)]


def judge(
    case: Case,
    namespace: dict[str, Any],
    call: Callable[[dict[str, Any]], Any],
    secrets: Iterable[str] = (),
) -> str:
    """Run the case; return the message (for extra assertions)."""
    ns = dict(namespace)
    exec(compile(case.code, f"<{case.id}>", "exec"), ns)  # the learner's cell
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = call(ns)  # the check: it must never raise
    if isinstance(result, CheckResult):
        message, passed = result.message, result.passed
    else:  # review() and hint() print
        message, passed = printed.getvalue(), result
    assert passed is case.passed, f"{case.id}: expected passed={case.passed}, got: {message}"
    assert case.says.lower() in message.lower(), f"{case.id}: {case.says!r} not in: {message}"
    assert SAFETY_NET not in message, f"{case.id}: the check needed its safety net: {message}"
    if not case.passed:
        for secret in secrets:
            assert secret not in message, f"{case.id}: the message gives away {secret!r}"
    return message
