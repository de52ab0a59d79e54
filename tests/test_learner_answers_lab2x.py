"""Lab 2x: what learners type in each exercise, and what the check must say.

The namespace is the notebook's state at the exercise, built from the real MiniLM vectors of
the course set (``course_minilm``). Each case runs the learner's code, calls the check as the
notebook does and asserts the verdict, a fragment of the message, that no check raised and
that no failure message gives the reference numbers or code away.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
import torch
from sentence_transformers.util import quantize_embeddings

import embedlab
from embedlab.labs import lab2x
from tests.learner_answers import Case, judge, params

SMALL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def namespace(minilm, course_minilm) -> dict:
    """The notebook's names at exercise a, b and the review (stubs still None)."""
    return {
        "np": np,
        "pd": pd,
        "torch": torch,
        "embedlab": embedlab,
        "lab2x": lab2x,
        "quantize_embeddings": quantize_embeddings,
        "SMALL": SMALL,
        "models": {SMALL: minilm},
        "ds": embedlab.load_course_retrieval(),
        "results": {SMALL: course_minilm},
        "doc_emb": course_minilm.doc_embeddings,
        "binary": None,
        "memory_ratio": None,
        "docs_128": None,
        "review_answers": {1: None, 2: None, 3: None, 4: None, 5: None},
    }


REFERENCE_A = """
binary = quantize_embeddings(doc_emb, precision="ubinary")
memory_ratio = doc_emb[0].nbytes / binary[0].nbytes
"""
UBINARY = 'binary = quantize_embeddings(doc_emb, precision="ubinary")\n'

A = [
    # --- correct, in every form the text allows
    Case("reference", "a", REFERENCE_A, True, "32x less memory"),
    Case(
        "signed-binary-precision",
        "a",
        'binary = quantize_embeddings(doc_emb, precision="binary")\n'
        "memory_ratio = doc_emb.nbytes / binary.nbytes",
        True,
        "48 bytes per vector",
    ),
    Case(
        "numpy-packbits",
        "a",
        "binary = np.packbits(doc_emb > 0, axis=1)\nmemory_ratio = 4 * 384 / binary.shape[1]",
        True,
    ),
    Case(
        "torch-tensors",
        "a",
        "binary = torch.from_numpy(quantize_embeddings(doc_emb, precision='ubinary'))\n"
        "memory_ratio = torch.tensor(doc_emb[0].nbytes) / binary[0].numel()",
        True,
    ),
    Case(
        "helper-memory-footprint",
        "a",
        UBINARY + "memory_ratio = embedlab.memory_footprint(len(doc_emb), doc_emb.shape[1])"
        '.loc["binary", "memory_ratio"]',
        True,
    ),
    Case("int-literal", "a", UBINARY + "memory_ratio = 32", True),
    Case("numpy-0d-array", "a", UBINARY + "memory_ratio = np.array(32.0)", True),
    Case("pandas-series", "a", UBINARY + "memory_ratio = pd.Series([32.0])", True),
    Case(
        "rounded-as-printed",
        "a",
        UBINARY + "memory_ratio = round(doc_emb[0].nbytes / binary[0].nbytes, 1)",
        True,
    ),
    Case(
        "bits-over-bits",
        "a",
        UBINARY + "memory_ratio = (doc_emb.shape[1] * 32) / (binary.shape[1] * 8)",
        True,
    ),
    Case("list-of-rows", "a", UBINARY + "binary = binary.tolist()\nmemory_ratio = 32.0", True),
    # --- typical mistakes, each named
    Case("stubs-left", "a", "binary = memory_ratio = None", False, "still None"),
    Case(
        "int8-instead",
        "a",
        'binary = quantize_embeddings(doc_emb, precision="int8")\nmemory_ratio = 4.0',
        False,
        "int8 quantization",
    ),
    Case("floats-kept", "a", "binary = doc_emb\nmemory_ratio = 1.0", False, "still the float"),
    Case(
        "bits-not-packed", "a", "binary = doc_emb > 0\nmemory_ratio = 32", False, "one bit per byte"
    ),
    Case(
        "packed-flat",
        "a",
        "binary = np.packbits(doc_emb > 0)\nmemory_ratio = 32",
        False,
        "one long row",
    ),
    Case(
        "packed-down-columns",
        "a",
        "binary = np.packbits(doc_emb > 0, axis=0)\nmemory_ratio = 32",
        False,
        "packed down the columns",
    ),
    Case(
        "first-rows-only",
        "a",
        "binary = quantize_embeddings(doc_emb[:10], precision='ubinary')\nmemory_ratio = 32",
        False,
        "10 rows",
    ),
    Case(
        "query-vectors",
        "a",
        "binary = quantize_embeddings(results[SMALL].query_embeddings, precision='ubinary')\n"
        "memory_ratio = 32",
        False,
        "383 documents",
    ),
    Case(
        "bits-flipped",
        "a",
        "binary = np.packbits(doc_emb <= 0, axis=1)\nmemory_ratio = 32",
        False,
        "flipped",
    ),
    Case(
        "bits-little-endian",
        "a",
        "binary = np.packbits(doc_emb > 0, axis=1, bitorder='little')\nmemory_ratio = 32",
        False,
        "reverse order",
    ),
    Case(
        "bits-as-floats",
        "a",
        UBINARY + "binary = binary.astype(float)\nmemory_ratio = 32",
        False,
        "as floats",
    ),
    Case(
        "half-the-dimensions",
        "a",
        "binary = quantize_embeddings(doc_emb[:, :192], precision='ubinary')\nmemory_ratio = 32",
        False,
        "24 columns",
    ),
    Case(
        "ratio-upside-down",
        "a",
        UBINARY + "memory_ratio = binary[0].nbytes / doc_emb[0].nbytes",
        False,
        "upside down",
    ),
    Case(
        "ratio-dims-not-bytes",
        "a",
        UBINARY + "memory_ratio = doc_emb.shape[1] / binary.shape[1]",
        False,
        "4 bytes",
    ),
    Case("ratio-of-int8", "a", UBINARY + "memory_ratio = 4", False, "int8"),
    Case(
        "ratio-matrix-over-row",
        "a",
        UBINARY + "memory_ratio = doc_emb.nbytes / binary[0].nbytes",
        False,
        "whole float32 matrix",
    ),
    Case(
        "ratio-is-a-size",
        "a",
        UBINARY + "memory_ratio = binary[0].nbytes",
        False,
        "size of one binary vector",
    ),
    Case(
        "ratio-bits-over-bytes",
        "a",
        UBINARY + "memory_ratio = doc_emb[0].nbytes * 8 / binary[0].nbytes",
        False,
        "bits with bytes",
    ),
    Case("ratio-other", "a", UBINARY + "memory_ratio = 16", False, "divided by the bytes"),
    Case("ratio-nan", "a", UBINARY + "memory_ratio = float('nan')", False, "not a finite"),
    # --- odd types: never a traceback, never the answer
    Case(
        "uncalled-function",
        "a",
        "binary = quantize_embeddings\nmemory_ratio = 32",
        False,
        "not its result",
    ),
    Case("uncalled-method", "a", UBINARY + "memory_ratio = binary.sum", False, "not its result"),
    Case("binary-string", "a", "binary = 'ubinary'\nmemory_ratio = 32", False, "is a str"),
    Case("binary-dict", "a", "binary = {'bits': 1}\nmemory_ratio = 32", False, "is a dict"),
    Case(
        "binary-ragged-list", "a", "binary = [[1, 2], [3]]\nmemory_ratio = 32", False, "got a list"
    ),
    Case("ratio-string", "a", UBINARY + "memory_ratio = '32x'", False, "text (a str)"),
    Case("ratio-bool", "a", UBINARY + "memory_ratio = True", False, "yes/no"),
    Case("ratio-two-numbers", "a", UBINARY + "memory_ratio = [1536, 48]", False, "2 numbers"),
    Case("ratio-dict", "a", UBINARY + "memory_ratio = {'ratio': 32}", False, "is a dict"),
    Case(
        "doc-emb-overwritten",
        "a",
        "doc_emb = quantize_embeddings(doc_emb, precision='ubinary')\nbinary = doc_emb\n"
        "memory_ratio = 32",
        False,
        "overwritten",
    ),
    Case(
        "doc-emb-none",
        "a",
        UBINARY + "memory_ratio = 32\ndoc_emb = None",
        False,
        "overwritten",
    ),
]

B = [
    # --- correct
    Case(
        "reference",
        "b",
        "docs_128 = doc_emb[:, :128]\n"
        "docs_128 = docs_128 / np.linalg.norm(docs_128, axis=1, keepdims=True)",
        True,
        "512 bytes each instead of 1536",
    ),
    Case("helper", "b", "docs_128 = embedlab.truncate_and_normalize(doc_emb, 128)", True),
    Case(
        "torch-normalize",
        "b",
        "docs_128 = torch.nn.functional.normalize(torch.from_numpy(doc_emb[:, :128]), dim=1)",
        True,
    ),
    Case(
        "sklearn-normalize",
        "b",
        "from sklearn.preprocessing import normalize\ndocs_128 = normalize(doc_emb[:, :128])",
        True,
    ),
    Case(
        "sentence-transformers-truncate-dim",
        "b",
        "docs_128 = models[SMALL].encode_document(\n"
        "    ds.doc_texts(), truncate_dim=128, normalize_embeddings=True\n)",
        True,
    ),
    Case(
        "in-place-float64-list",
        "b",
        "x = doc_emb[:, :128].astype(np.float64)\nx /= np.linalg.norm(x, axis=1)[:, None]\n"
        "docs_128 = x.tolist()",
        True,
    ),
    # --- typical mistakes
    Case("stub-left", "b", "docs_128 = None", False, "still None"),
    Case("cut-only", "b", "docs_128 = doc_emb[:, :128]", False, "did not re-normalise"),
    Case(
        "truncate-dim-alone",
        "b",
        "docs_128 = models[SMALL].encode_document(ds.doc_texts(), truncate_dim=128)",
        False,
        "did not re-normalise",
    ),
    Case(
        "normalised-before-cutting",
        "b",
        "x = doc_emb / np.linalg.norm(doc_emb, axis=1, keepdims=True)\ndocs_128 = x[:, :128]",
        False,
        "did not re-normalise",
    ),
    Case(
        "columns-normalised",
        "b",
        "x = doc_emb[:, :128]\ndocs_128 = x / np.linalg.norm(x, axis=0)",
        False,
        "column",
    ),
    Case(
        "one-norm-for-the-matrix",
        "b",
        "x = doc_emb[:, :128]\ndocs_128 = x / np.linalg.norm(x)",
        False,
        "one number",
    ),
    Case(
        "squared-length",
        "b",
        "x = doc_emb[:, :128]\ndocs_128 = x / (x**2).sum(axis=1, keepdims=True)",
        False,
        "squared length",
    ),
    Case(
        "rows-not-columns",
        "b",
        "docs_128 = embedlab.normalize(doc_emb[:128])",
        False,
        "first 128 documents",
    ),
    Case("nothing-cut", "b", "docs_128 = doc_emb", False, "all 384 dimensions"),
    Case(
        "last-dimensions",
        "b",
        "x = doc_emb[:, -128:]\ndocs_128 = x / np.linalg.norm(x, axis=1, keepdims=True)",
        False,
        "last 128",
    ),
    Case(
        "other-size",
        "b",
        "docs_128 = embedlab.truncate_and_normalize(doc_emb, 64)",
        False,
        "first 128 dimensions",
    ),
    Case(
        "rows-reordered",
        "b",
        "docs_128 = embedlab.truncate_and_normalize(doc_emb[::-1], 128)",
        False,
        "another order",
    ),
    Case(
        "signs-flipped",
        "b",
        "docs_128 = -embedlab.truncate_and_normalize(doc_emb, 128)",
        False,
        "signs are flipped",
    ),
    Case(
        "query-vectors",
        "b",
        "docs_128 = embedlab.truncate_and_normalize(results[SMALL].query_embeddings, 128)",
        False,
        "383 documents",
    ),
    Case(
        "binary-codes-from-a",
        "b",
        "docs_128 = quantize_embeddings(doc_emb, precision='ubinary')",
        False,
        "first 128 dimensions",
    ),
    # --- odd types
    Case(
        "uncalled-function",
        "b",
        "docs_128 = embedlab.truncate_and_normalize",
        False,
        "not its result",
    ),
    Case("string", "b", "docs_128 = 'the first 128 dims'", False, "is a str"),
    Case("dict", "b", "docs_128 = {128: doc_emb}", False, "is a dict"),
    Case("ragged-list", "b", "docs_128 = [[1.0, 0.0], [1.0]]", False, "got a list"),
    Case("one-vector", "b", "docs_128 = embedlab.normalize(doc_emb[0, :128])", False, "matrix"),
    Case(
        "doc-emb-overwritten-with-the-cut",
        "b",
        "doc_emb = embedlab.truncate_and_normalize(doc_emb, 128)\ndocs_128 = doc_emb",
        False,
        "overwritten",
    ),
    Case(
        "doc-emb-overwritten-with-a-string",
        "b",
        "docs_128 = embedlab.truncate_and_normalize(doc_emb, 128)\ndoc_emb = 'vectors'",
        False,
        "overwritten",
    ),
]

RIGHT = "{1: 'b', 2: 'c', 3: 'b', 4: 'c', 5: 'a'}"
REVIEW = [
    Case("reference", "review", f"review_answers = {RIGHT}", True, "5 of 5 right"),
    Case(
        "letters-in-every-form",
        "review",
        "review_answers = {1: '(b)', 2: 'C', 3: 'b.', 4: 'c)', '5': ' a '}",
        True,
        "5 of 5 right",
    ),
    Case("list-in-order", "review", "review_answers = ['b', 'c', 'b', 'c', 'a']", True),
    Case("one-string", "review", "review_answers = 'b, c, b, c, a'", True),
    Case("option-text", "review", f"review_answers = {{**{RIGHT}, 5: '23'}}", True),
    Case("stubs-left", "review", "pass", False, "Answer the 5 questions first"),
    Case(
        "one-wrong",
        "review",
        f"review_answers = {{**{RIGHT}, 5: 'b'}}",
        False,
        "re-embedding the whole corpus",
    ),
    Case(
        "one-missing",
        "review",
        "review_answers = {1: 'b', 2: 'c', 3: 'b', 4: 'c'}",
        False,
        "5. not answered yet",
    ),
    Case(
        "not-an-option",
        "review",
        f"review_answers = {{**{RIGHT}, 2: 'z'}}",
        False,
        "not one of the options",
    ),
    Case("a-number", "review", "review_answers = 42", False, "as a dict"),
    Case("overwritten-with-a-function", "review", "review_answers = lab2x.review", False, "dict"),
]

SECRETS = {
    "a": ("32x", "32.0", "= 32", "48 bytes", "1536", 'precision="ubinary")', ".nbytes /"),
    "b": ("512 bytes", "[:, :128]", "axis=1", "keepdims"),
    "review": (),
}


def _review(ns: dict) -> bool:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        lab2x.review(ns["review_answers"])
    print(out.getvalue())
    return "5 of 5 right." in out.getvalue()


CALLS = {
    "a": lambda ns: lab2x.check_a(ns["binary"], ns["memory_ratio"], ns["doc_emb"]),
    "b": lambda ns: lab2x.check_b(ns["docs_128"], ns["doc_emb"], dims=128),
    "review": _review,
}


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # a learner's own division
@pytest.mark.parametrize("case", params("lab2x", A + B + REVIEW))
def test_learner_answer(case: Case, namespace: dict) -> None:
    judge(case, namespace, CALLS[case.step], SECRETS[case.step])


def test_the_catalogue_covers_every_exercise() -> None:
    assert len(A + B + REVIEW) >= 40
    for cases in (A, B, REVIEW):
        assert any(c.passed for c in cases) and sum(not c.passed for c in cases) >= 5
