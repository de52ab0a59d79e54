"""Transitional: the checks of lab2, moved here from embedlab.checks (being rewritten)."""

from __future__ import annotations

import json
from importlib import resources

import embedlab.lab2  # noqa: F401
import embedlab.playground  # noqa: F401  (transitional: notebooks call embedlab.playground)
from embedlab.checks import lab2 as _legacy
from embedlab.labs.base import Lab, Question

_REVIEW = json.loads((resources.files("embedlab.checks") / "lab2_review.json").read_text())
QUESTIONS = [
    Question(q["question"], q["options"], q["answer"], q["why"]) for q in _REVIEW["questions"]
]
LAB = Lab("lab2", _legacy.HINTS, QUESTIONS)
hint, answer, review, needs = _legacy.hint, _legacy.answer, _legacy.review, _legacy.needs
TITLE, MINUTES, LEVEL = "Lab 2 · Embedding Model Selection", 25, "intermediate"
check_a, check_b, check_c, check_d = _legacy.step_a, _legacy.step_b, _legacy.step_c, _legacy.step_d
