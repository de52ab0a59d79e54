"""Lab 2x's module: its contract with the tools, the checks' edges (other sizes, tolerances,
odd input of every kind), hints, answers, ``needs`` and the review questions.

What learners type is in ``test_learner_answers_lab2x.py``, on the real MiniLM vectors; these
tests use seeded random unit vectors, so sizes the notebook never uses are covered too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sentence_transformers.util import quantize_embeddings

from embedlab.labs import lab2x
from embedlab.labs.base import CheckResult, ExerciseNotDone
from tests.learner_answers import SAFETY_NET

ROOT = Path(__file__).resolve().parent.parent


def unit_rows(n: int, dims: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dims))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def emb() -> np.ndarray:
    return unit_rows(40, 100)  # 100 dims: binary pads 100 bits to 13 bytes


def failed(result: CheckResult, step: str, says: str) -> str:
    assert isinstance(result, CheckResult) and not result.passed, result
    assert says in result.message, result.message
    assert SAFETY_NET not in result.message, result.message
    assert f"lab2x.hint('{step}')" in result.message or "still None" in result.message
    return result.message


# --------------------------------------------------------------------------- the contract


def test_title_minutes_level():
    assert lab2x.TITLE == "Lab 2x · Optimise for production"
    assert lab2x.LEVEL == "intermediate · optional"
    assert isinstance(lab2x.MINUTES, int) and 0 < lab2x.MINUTES <= 30


def test_every_public_name_exists_and_has_a_docstring():
    for name in lab2x.__all__:
        obj = getattr(lab2x, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), name


def test_answers_come_from_the_solution():
    answers = json.loads((ROOT / "shared/embedlab/labs/answers.json").read_text())["lab2x"]
    assert set(answers) == {"a", "b", "review"} == {*lab2x.HINTS, "review"}
    assert "quantize_embeddings(" in answers["a"] and "np.linalg.norm(" in answers["b"]


@pytest.mark.parametrize(("step", "says"), [("a", "'ubinary'"), ("b", "its own length")])
def test_hint_and_answer_print(capsys, step, says):
    lab2x.hint(step)
    assert says in capsys.readouterr().out
    lab2x.answer(step)
    assert "# replaces:" in capsys.readouterr().out
    lab2x.hint("z")
    assert "No hint for 'z'; exercises: 'a', 'b'." in capsys.readouterr().out


# --------------------------------------------------------------------------- exercise a


def test_a_other_sizes_are_padded_to_whole_bytes(emb):
    binary = quantize_embeddings(emb, precision="ubinary")
    result = lab2x.check_a(binary, emb[0].nbytes / binary[0].nbytes, emb)
    assert result.passed, result.message
    assert "13 bytes per vector in binary instead of 400" in result.message
    assert lab2x.check_a(binary, 30.8, emb).passed  # 400 / 13 as printed to one decimal
    failed(lab2x.check_a(binary, 32, emb), "a", "bytes of one float32 vector divided by")
    failed(lab2x.check_a(binary, 100 / 13, emb), "a", "4 bytes")


def test_a_signed_codes_and_a_gpu_like_tensor_pass(emb):
    signed = torch.from_numpy(quantize_embeddings(emb, precision="binary"))
    assert lab2x.check_a(signed, torch.tensor(400 / 13), torch.from_numpy(emb)).passed


def test_a_one_wrong_bit_fails(emb):
    binary = quantize_embeddings(emb, precision="ubinary")
    binary[3, 2] ^= 0b00010000
    failed(lab2x.check_a(binary, 400 / 13, emb), "a", "not the bits of doc_emb")


# --------------------------------------------------------------------------- exercise b


def test_b_another_size_and_precision(emb):
    cut = emb[:, :64] / np.linalg.norm(emb[:, :64], axis=1, keepdims=True)
    result = lab2x.check_b(cut, emb, dims=64)
    assert result.passed and "40 unit vectors of 64 dimensions" in result.message
    assert "256 bytes each instead of 400" in result.message
    assert lab2x.check_b(cut.astype(np.float16), emb, dims=64).passed
    assert lab2x.check_b(pd.DataFrame(cut), emb, dims=np.int64(64)).passed


def test_b_tolerance_rejects_a_real_difference(emb):
    cut = emb[:, :64] / np.linalg.norm(emb[:, :64], axis=1, keepdims=True)
    noisy = cut + 0.05 * unit_rows(40, 64, seed=1)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    failed(lab2x.check_b(noisy, emb, dims=64), "b", "not the first 64 dimensions")


@pytest.mark.parametrize("dims", ["128", 0, -3, True, 2.5, None])
def test_b_a_bad_dims_is_named(emb, dims):
    failed(lab2x.check_b(emb[:, :8], emb, dims=dims), "b", "dims should be")


# --------------------------------------------------------------------------- never a traceback

ODD = [
    None,
    "text",
    b"bytes",
    [],
    [1, 2],
    [[1, 2], [3]],
    {},
    {"a": 1},
    3,
    3.5,
    True,
    complex(1, 2),
    float("nan"),
    float("inf"),
    object(),
    print,
    lambda: 1,
    np.array([]),
    np.zeros((0, 0)),
    np.zeros((2, 3, 4)),
    np.array(["a", "b"]),
    np.array([None, 1.0]),
    torch.zeros(3),
    pd.DataFrame(),
    pd.Series(["x"]),
]


@pytest.mark.parametrize("odd", ODD, ids=[type(o).__name__ + str(i) for i, o in enumerate(ODD)])
def test_checks_never_raise_and_name_the_argument(emb, odd):
    binary = quantize_embeddings(emb, precision="ubinary")
    cut = emb[:, :64] / np.linalg.norm(emb[:, :64], axis=1, keepdims=True)
    for result in (
        lab2x.check_a(odd, 400 / 13, emb),
        lab2x.check_a(binary, odd, emb),
        lab2x.check_a(binary, 400 / 13, odd),
        lab2x.check_b(odd, emb, dims=64),
        lab2x.check_b(cut, odd, dims=64),
        lab2x.check_b(cut, emb, dims=odd),
    ):
        assert isinstance(result, CheckResult) and not result.passed
        assert SAFETY_NET not in result.message, result.message
        names = ("binary", "memory_ratio", "doc_emb", "docs_128", "dims")
        assert any(n in result.message for n in names), result.message


# --------------------------------------------------------------------------- needs


def test_needs_follows_the_last_check(emb):
    cut = emb[:, :64] / np.linalg.norm(emb[:, :64], axis=1, keepdims=True)
    assert not lab2x.check_b(emb[:, :64], emb, dims=64).passed
    with pytest.raises(ExerciseNotDone, match="finish exercise b first"):
        lab2x.needs("b")
    assert lab2x.check_b(cut, emb, dims=64).passed
    lab2x.needs("b")  # silent once the check has passed
    assert not lab2x.check_b(None, emb, dims=64).passed
    with pytest.raises(ExerciseNotDone):
        lab2x.needs("b")


# --------------------------------------------------------------------------- review


def test_review_questions_are_well_formed():
    assert 4 <= len(lab2x.QUESTIONS) <= 6
    for q in lab2x.QUESTIONS:
        assert q.answer in q.options and set(q.why) == set(q.options), q.text
        assert q.why[q.answer].startswith("Right")
        assert not any(q.why[k].startswith("Right") for k in q.options if k != q.answer)
    assert len({q.answer for q in lab2x.QUESTIONS}) > 1  # not always the same letter


def test_review_explains_every_wrong_option(capsys):
    for number, q in enumerate(lab2x.QUESTIONS, start=1):
        for key in set(q.options) - {q.answer}:
            lab2x.review({number: key})
            assert f"{number}. not quite ({key}): {q.why[key]}" in capsys.readouterr().out


def test_review_markdown_is_what_the_notebook_shows():
    import nbformat

    nb = nbformat.read(ROOT / "solutions/lab2x_optimise_for_production.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == "review"]
    assert cell.source == lab2x.LAB.review_markdown()
