"""The result every exercise check returns: truthy when passed, with a message to show."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckResult", "passed", "failed", "not_done"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a check. Shows as one line in a notebook; ``bool(result)`` is ``passed``."""

    step: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"[{mark}] {self.step}: {self.message}"

    def _repr_markdown_(self) -> str:
        mark = "✅" if self.passed else "❌"
        return f"{mark} **{self.step}**: {self.message}"


def passed(step: str, message: str) -> CheckResult:
    return CheckResult(step, True, message)


def failed(step: str, message: str) -> CheckResult:
    return CheckResult(step, False, message)


def not_done(step: str, what: str) -> CheckResult:
    return CheckResult(step, False, f"{what} is still None: replace the TODO with your code.")
