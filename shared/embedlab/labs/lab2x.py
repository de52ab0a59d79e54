"""Transitional: the checks of lab2x, moved here from embedlab.checks (being rewritten)."""

from __future__ import annotations

import json
from importlib import resources

import embedlab.lab2  # noqa: F401
import embedlab.playground  # noqa: F401  (transitional: notebooks call embedlab.playground)
from embedlab.checks import lab2x as _legacy
from embedlab.labs.base import Lab, Question

_REVIEW = json.loads((resources.files("embedlab.checks") / "lab2x_review.json").read_text())
QUESTIONS = [
    Question(q["question"], q["options"], q["answer"], q["why"]) for q in _REVIEW["questions"]
]
LAB = Lab("lab2x", _legacy.HINTS, QUESTIONS)
hint, answer, review, needs = _legacy.hint, _legacy.answer, _legacy.review, _legacy.needs
TITLE, MINUTES, LEVEL = "Lab 2x · Optimise for production", 20, "intermediate · optional"
check_a, check_b = _legacy.step_a, _legacy.step_b
