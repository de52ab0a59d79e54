"""Lab 2x checks: each passes the reference answer and the helper's, and names typical mistakes.

The vectors are real: all-MiniLM-L6-v2 document embeddings of the course retrieval set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers.util import normalize_embeddings, quantize_embeddings

import embedlab
from embedlab import checks
from embedlab.checks import ExerciseNotDone
from embedlab.quantization import bytes_per_vector, memory_footprint, truncate_and_normalize

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "lab2x_optimise_for_production.ipynb"
lab = checks.lab2x


@pytest.fixture(scope="module")
def texts():
    return embedlab.load_course_retrieval().doc_texts()[:160]


@pytest.fixture(scope="module")
def doc_emb(minilm, texts):
    """160 unit-length MiniLM document vectors of 384 dimensions (more rows than 128)."""
    return np.asarray(embedlab.embed(minilm, texts))


def stuck(result, step):
    assert not result.passed
    assert f"checks.lab2x.hint('{step}')" in result.message, result.message


# --------------------------------------------------------------------------- exercise a


def test_a_reference_answer_passes(doc_emb):
    binary = quantize_embeddings(doc_emb, precision="ubinary")
    result = lab.step_a(binary, binary.shape[1], doc_emb[0].nbytes / binary.shape[1], doc_emb)
    assert result.passed, result.message
    assert "48 bytes" in result.message and "32x" in result.message


@pytest.mark.parametrize(
    "make",
    [
        lambda e: quantize_embeddings(e, precision="binary"),  # signed: the same bits
        lambda e: np.packbits(e > 0, axis=1),  # by hand
        lambda e: torch.from_numpy(np.packbits(e > 0, axis=1)),
    ],
)
def test_a_other_correct_answers_pass(doc_emb, make):
    row = memory_footprint(len(doc_emb), doc_emb.shape[1]).loc["binary"]  # the helper's numbers
    result = lab.step_a(make(doc_emb), row["bytes_per_vector"], row["memory_ratio"], doc_emb)
    assert result.passed, result.message
    assert lab.step_a(make(doc_emb), bytes_per_vector(384, "binary"), 32, doc_emb).passed


def test_a_int8_instead_of_binary(doc_emb):
    int8 = quantize_embeddings(doc_emb, precision="int8")
    result = lab.step_a(int8, int8.shape[1], 4.0, doc_emb)
    stuck(result, "a")
    assert "int8 quantization" in result.message and "'ubinary'" in result.message


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda e: e, "still holds float vectors"),
        (lambda e: e > 0, "Pack 8 bits into each byte"),
        (lambda e: quantize_embeddings(e[:10], precision="ubinary"), "quantize all 160"),
        (lambda e: np.packbits(e < 0, axis=1), "not the right bits"),
        (lambda e: np.packbits(e > 0, axis=1)[:, :24], "into 48 bytes"),
    ],
)
def test_a_wrong_binary(doc_emb, make, expected):
    result = lab.step_a(make(doc_emb), 48, 32.0, doc_emb)
    stuck(result, "a")
    assert expected in result.message, result.message


@pytest.mark.parametrize(
    ("size", "expected"),
    [(384, "counts bits"), (160 * 48, "whole matrix"), (1536, "size of a float32 vector")],
)
def test_a_wrong_bytes_per_vector(doc_emb, size, expected):
    binary = quantize_embeddings(doc_emb, precision="ubinary")
    result = lab.step_a(binary, size, 32.0, doc_emb)
    stuck(result, "a")
    assert expected in result.message, result.message


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [(1 / 32, "divided binary by float32"), (8, "4 bytes per dimension"), (4, "int8's ratio")],
)
def test_a_wrong_memory_ratio(doc_emb, ratio, expected):
    binary = quantize_embeddings(doc_emb, precision="ubinary")
    result = lab.step_a(binary, 48, ratio, doc_emb)
    stuck(result, "a")
    assert expected in result.message, result.message


def test_a_unfinished_and_non_numbers(doc_emb):
    result = lab.step_a(None, None, None, doc_emb)
    stuck(result, "a")
    assert "binary is still None" in result.message
    binary = quantize_embeddings(doc_emb, precision="ubinary")
    assert "memory_ratio is still None" in lab.step_a(binary, 48, None, doc_emb).message
    assert "must be a number" in lab.step_a(binary, "48", 32, doc_emb).message
    assert "must be a number" in lab.step_a(binary, 48, True, doc_emb).message


# --------------------------------------------------------------------------- exercise b


def _per_column(x):
    """The mistake of normalising columns (axis=0); a column of zeros gives NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return x / np.linalg.norm(x, axis=0)


def test_b_reference_answer_passes(doc_emb):
    docs_128 = doc_emb[:, :128]
    docs_128 = docs_128 / np.linalg.norm(docs_128, axis=1, keepdims=True)
    result = lab.step_b(docs_128, doc_emb, dims=128)
    assert result.passed, result.message
    assert "512 bytes each instead of 1536" in result.message


def test_b_other_correct_answers_pass(minilm, texts, doc_emb):
    helper = truncate_and_normalize(doc_emb, 128)
    with_torch = normalize_embeddings(torch.from_numpy(doc_emb[:, :128].copy()))
    for answer in (helper, with_torch, embedlab.normalize(doc_emb[:, :128])):
        result = lab.step_b(answer, doc_emb, dims=128)
        assert result.passed, result.message
    at_encode = minilm.encode_document(texts[:8], normalize_embeddings=True, truncate_dim=128)
    result = lab.step_b(at_encode, doc_emb[:8], dims=128)  # sentence-transformers' own
    assert result.passed, result.message


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda e: e[:, :128], "did not re-normalise"),
        (lambda e: e[:128], "first 128 documents (rows)"),
        (lambda e: e, "still has all 384 dimensions"),
        (lambda e: _per_column(e[:, :128]), "normalise the columns (axis=0)"),
        (lambda e: truncate_and_normalize(e[:, ::-1], 128)[:, ::-1], "last 128 dimensions"),
        (lambda e: truncate_and_normalize(e[::-1], 128), "not the right values"),
        (lambda e: truncate_and_normalize(e, 64), "not (160, 128)"),
    ],
)
def test_b_typical_mistakes(doc_emb, make, expected):
    result = lab.step_b(make(doc_emb), doc_emb, dims=128)
    stuck(result, "b")
    assert expected in result.message, result.message


def test_b_columns_normalised(doc_emb):
    """One MiniLM dimension is (about) 0 in every document, hence NaN above; without it, none."""
    full = doc_emb.copy()
    full[:, np.linalg.norm(full, axis=0) < 1e-6] = 0.01
    full = truncate_and_normalize(full, 384)
    result = lab.step_b(full[:, :128] / np.linalg.norm(full[:, :128], axis=0), full)
    stuck(result, "b")
    assert "normalised the columns (axis=0)" in result.message, result.message


def test_b_unfinished_and_needs(doc_emb):
    result = lab.step_b(None, doc_emb)
    stuck(result, "b")
    assert "docs_128 is still None" in result.message
    with pytest.raises(ExerciseNotDone, match="finish exercise b first"):
        lab.needs("b")
    assert lab.step_b(truncate_and_normalize(doc_emb, 128), doc_emb).passed
    lab.needs("b")  # passes silently once the check has passed
    assert not lab.step_b(doc_emb[:, :128], doc_emb).passed
    with pytest.raises(ExerciseNotDone):
        lab.needs("b")


# --------------------------------------------------------------------------- hints, answers


@pytest.mark.parametrize(
    ("step", "hint_has", "answer_has"),
    [("a", "precision='ubinary'", "quantize_embeddings("), ("b", "axis=1", "np.linalg.norm(")],
)
def test_hint_and_answer(capsys, step, hint_has, answer_has):
    lab.hint(step)
    assert hint_has in capsys.readouterr().out
    lab.answer(step)
    out = capsys.readouterr().out
    assert answer_has in out and "# replaces:" in out


def test_answers_come_from_the_solution():
    answers = json.loads((ROOT / "shared/embedlab/labs/answers.json").read_text())["lab2x"]
    assert set(answers) == {"a", "b", "review"}


# --------------------------------------------------------------------------- review


REVIEW = json.loads((ROOT / "shared/embedlab/checks/lab2x_review.json").read_text())["questions"]


def test_review_file_is_well_formed():
    assert 4 <= len(REVIEW) <= 6
    for q in REVIEW:
        assert q["answer"] in q["options"]
        assert set(q["why"]) == set(q["options"]), q["question"]


def test_review_right_answers(capsys):
    lab.review({i: q["answer"] for i, q in enumerate(REVIEW, start=1)})
    assert f"{len(REVIEW)} of {len(REVIEW)} right." in capsys.readouterr().out


def test_review_every_wrong_option_is_explained(capsys):
    for number, q in enumerate(REVIEW, start=1):
        for key in set(q["options"]) - {q["answer"]}:
            lab.review({number: key})
            out = capsys.readouterr().out
            assert f"{number}. not quite ({key}): {q['why'][key]}" in out


def test_review_unanswered(capsys):
    lab.review({1: None, 2: None})
    assert f"Answer the {len(REVIEW)} questions first" in capsys.readouterr().out


# ------------------------------------------------ core behaviour this lab relies on


def test_search_scores_an_all_zero_query_zero():
    """A TF-IDF query with no word of the vocabulary is an all-zero vector."""
    run = embedlab.search(
        [[0.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], ["q1", "q2"], ["a", "b"]
    )
    assert run == {"q1": {"b": 0.0, "a": 0.0}, "q2": {"a": 1.0, "b": 0.0}}


def test_index_control_shows_its_line_in_a_label(doc_emb):
    from embedlab.playground import index_control
    from embedlab.retrieval import RetrievalScores

    ids = [f"d{i:03d}" for i in range(len(doc_emb))]
    result = RetrievalScores({}, None, query_ids=ids[:5], doc_ids=ids)
    result.query_embeddings, result.doc_embeddings = doc_emb[:5], doc_emb
    qrels = {q: {q: 1} for q in ids[:5]}
    box = index_control(result, qrels, settings=("float32", "binary+rescore"))
    assert box.children[1].value.startswith("float32: nDCG@10 1.000 (100.0% of float32)")
    box.children[0].value = "binary+rescore"
    assert "48 bytes per vector (32x smaller)" in box.children[1].value
