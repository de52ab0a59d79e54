"""Checks for lab2 (being written)."""

from __future__ import annotations

from embedlab.checks._core import Lab

_lab = Lab("lab2", {})
hint, answer, review, needs = _lab.hint, _lab.answer, _lab.review, _lab.needs
