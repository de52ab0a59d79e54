"""Exercise checks for the labs: ``embedlab.checks.lab1.step_a(...)`` and so on.

Each check accepts any correct answer and explains what is wrong with a wrong one.
"""

from __future__ import annotations

from embedlab.checks import lab1, lab2
from embedlab.checks._result import CheckResult

__all__ = ["CheckResult", "lab1", "lab2"]
