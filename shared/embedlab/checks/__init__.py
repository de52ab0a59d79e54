"""Checks for the labs' exercises: ``checks.lab1.step_a(...)`` and so on.

Each check accepts any correct answer, explains a wrong one, and ends a failure with how to
get unstuck: ``checks.lab1.hint("a")``, then, as a last resort, ``checks.lab1.answer("a")``.
"""

from embedlab.checks import lab1, lab2, lab2x
from embedlab.checks._core import CheckResult, ExerciseNotDone

__all__ = ["CheckResult", "ExerciseNotDone", "lab1", "lab2", "lab2x"]
