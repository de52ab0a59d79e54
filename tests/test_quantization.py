"""Quantization: memory arithmetic, Matryoshka truncation, and int8 / binary search checked
against independent NumPy references (no faiss, no sentence-transformers in the references).

Binary search is sentence-transformers' ``semantic_search_faiss`` on a faiss binary index;
int8 uses the library's ``quantize_embeddings`` and a dot product of the codes (faiss's uint8
path would rank by uncentred codes). The references write the semantics out:

* int8: each dimension is cut into 256 buckets between the calibration minimum and maximum;
  a vector becomes ``floor((x - min) / step)`` clipped to 0..255, minus 128 (signed codes).
  The quantized query's codes are dotted with the documents' codes.
* binary: one bit per dimension (``x > 0``), packed 8 per byte; documents are ranked by Hamming
  distance to the query's bits, lower first (the run stores ``-distance``).
* rescoring: ``k * rescore_multiplier`` candidates from the quantized search are re-ranked by
  the dot product of the float query with the candidate's dequantized vector (int8: the bucket
  start; binary: the 0/1 bits).

faiss-cpu is a declared dependency of the course setup (``pip install -e .[search]``): a test
that needs it fails when it is missing, never skips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedlab.embeddings import Embeddings
from embedlab.errors import IncompatibleEmbeddingsError, InvalidInputError, NotNormalizedError
from embedlab.quantization import (
    bytes_per_vector,
    memory_footprint,
    quantized_search,
    truncate_and_normalize,
)
from embedlab.retrieval import evaluate_run, search

# --------------------------------------------------------------------------- references


def unit_rows(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    x = rng.standard_normal((n, dims))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def int8_codes(x: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """256 buckets per dimension between the calibration min and max (float32, as the library)."""
    lo, hi = calibration.min(axis=0), calibration.max(axis=0)
    step = (hi - lo) / np.float32(255)
    step = np.where(step == 0, np.float32(1), step)
    return np.clip(np.floor((x.astype(np.float32) - lo) / step), 0, 255)


def int8_bucket_starts(codes: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    lo, hi = calibration.min(axis=0), calibration.max(axis=0)
    return codes.astype(np.float64) * ((hi - lo) / np.float32(255)).astype(np.float64) + lo


def sign_bits(x: np.ndarray) -> np.ndarray:
    """One bit per dimension, packed 8 per byte, most significant first, zero padded."""
    return np.packbits(x > 0, axis=1)


def hamming(q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Hamming distances between the packed bits of every query and document."""
    xor = sign_bits(q)[:, None, :] ^ sign_bits(d)[None, :, :]
    return np.unpackbits(xor, axis=2).sum(axis=2, dtype=np.int64)


def bits01(x: np.ndarray) -> np.ndarray:
    """The 0/1 vectors a binary candidate is rescored with."""
    return np.unpackbits(sign_bits(x), axis=1)[:, : x.shape[1]].astype(np.float64)


def assert_a_valid_top_k(docs: list[int], scores: np.ndarray, k: int, higher_better=True) -> None:
    """``docs`` are k best of ``scores`` in order, whatever the order of ties: tie-robust."""
    s = scores if higher_better else -scores
    got = s[docs]
    assert len(docs) == k and len(set(docs)) == k
    assert (np.diff(got) <= 0).all(), "not ranked best first"
    rest = np.delete(s, docs)
    assert rest.max() <= got.min(), "a better document was left out"


@pytest.fixture(scope="module")
def data() -> dict:
    """Seeded queries near some documents, a separate calibration sample, and ids."""
    rng = np.random.default_rng(42)
    dims = 100  # not a multiple of 8: the binary padding must not count
    docs = unit_rows(rng, 500, dims)
    noisy = docs[:30] + 0.1 * rng.standard_normal((30, dims))
    return {
        "queries": (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32),
        "docs": docs,
        "calibration": unit_rows(rng, 300, dims),
        "qids": [f"q{i}" for i in range(30)],
        "dids": [f"d{i:03d}" for i in range(500)],
    }


def run_indices(run: dict, qid: str) -> list[int]:
    return [int(d[1:]) for d in run[qid]]


# --------------------------------------------------------------------------- faiss is installed


def test_faiss_cpu_is_installed_as_the_setup_declares():
    import tomllib

    root = Path(__file__).resolve().parent.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(r.startswith("faiss-cpu") for r in extras["search"])
    assert "search" in (root / "Makefile").read_text().split("EXTRAS := ")[1].split("\n")[0]
    import faiss  # fails, never skips: `make setup` installs it

    assert hasattr(faiss, "IndexBinaryFlat") and hasattr(faiss, "IndexFlatIP")


# --------------------------------------------------------------------------- memory


def test_memory_footprint_figures():
    table = memory_footprint(1_000_000, 384)
    assert table.index.tolist() == ["float32", "int8", "binary"] and table.index.name == "precision"
    assert table["bytes_per_vector"].tolist() == [1536, 384, 48]
    assert table["size"].tolist() == ["1.5 GB", "384 MB", "48 MB"]
    assert table["memory_ratio"].tolist() == [1.0, 4.0, 32.0]


def test_binary_is_padded_to_whole_bytes():
    assert [bytes_per_vector(100, p) for p in ("float32", "int8", "binary")] == [400, 100, 13]
    table = memory_footprint(10_000_000, 100)
    assert table.loc["binary", "bytes_per_vector"] == 13
    assert table.loc["binary", "size"] == "130 MB"
    assert table.loc["binary", "memory_ratio"] == pytest.approx(400 / 13)


@pytest.mark.parametrize("n_docs, dims", [(0, 384), (10, -1), (10, 3.5), (True, 8), ("10", 8)])
def test_memory_footprint_rejects_bad_sizes(n_docs, dims):
    with pytest.raises(InvalidInputError, match="must be a positive integer"):
        memory_footprint(n_docs, dims)


# --------------------------------------------------------------------------- truncation


def test_truncate_and_normalize_equals_numpy(data):
    d = data["docs"]
    out = truncate_and_normalize(d, 32)
    expected = d[:, :32] / np.linalg.norm(d[:, :32], axis=1, keepdims=True)
    assert out.shape == (500, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(truncate_and_normalize(d[0], 32), expected[:1], atol=1e-6)
    np.testing.assert_allclose(truncate_and_normalize(d, 100), d, atol=1e-6)
    assert type(truncate_and_normalize(Embeddings(d, model="m"), 8)) is np.ndarray


@pytest.mark.parametrize("dims", [0, 101, 32.0, True, None])
def test_truncate_and_normalize_rejects_bad_dims(data, dims):
    with pytest.raises(
        InvalidInputError, match=r"out of range: these embeddings have 100 dim.*1 and 100"
    ):
        truncate_and_normalize(data["docs"], dims)


def test_truncate_and_normalize_refuses_an_all_zero_prefix():
    with pytest.raises(InvalidInputError, match="all zeros cannot be normalised"):
        truncate_and_normalize(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), 2)


# --------------------------------------------------------------------------- search


def test_float32_is_exact_search(data):
    args = (data["queries"], data["docs"], data["qids"], data["dids"])
    assert quantized_search(*args, "float32", k=20) == search(*args, k=20)
    scores = data["queries"].astype(np.float64) @ data["docs"].T.astype(np.float64)
    run = quantized_search(*args, "float32", k=20)
    for i, qid in enumerate(data["qids"]):
        assert run_indices(run, qid) == np.argsort(-scores[i])[:20].tolist()


def test_int8_codes_are_the_documented_formula(data):
    from sentence_transformers.util.quantization import quantize_embeddings

    codes = int8_codes(data["docs"], data["calibration"])
    library = quantize_embeddings(data["docs"], "int8", calibration_embeddings=data["calibration"])
    np.testing.assert_array_equal(library, (codes - 128).astype(np.int8))
    assert (codes == 0).any() and (codes == 255).any()  # outside the calibration: clipped


def test_int8_search_ranks_by_the_dot_product_of_the_codes(data):
    q, d, cal, k = data["queries"], data["docs"], data["calibration"], 15
    run = quantized_search(
        q, d, data["qids"], data["dids"], "int8", k=k, rescore=False, calibration_embeddings=cal
    )
    scores = (int8_codes(q, cal) - 128) @ (int8_codes(d, cal) - 128).T  # signed, exact integers
    for i, qid in enumerate(data["qids"]):
        docs = run_indices(run, qid)
        assert_a_valid_top_k(docs, scores[i], k)
        assert list(run[qid].values()) == scores[i, docs].tolist()


def test_int8_rescoring_uses_the_bucket_starts_and_the_float_query(data):
    q, d, cal, k, m = data["queries"], data["docs"], data["calibration"], 10, 4
    run = quantized_search(
        q,
        d,
        data["qids"],
        data["dids"],
        "int8",
        k=k,
        rescore_multiplier=m,
        calibration_embeddings=cal,
    )
    coarse = (int8_codes(q, cal) - 128) @ (int8_codes(d, cal) - 128).T
    starts = int8_bucket_starts(int8_codes(d, cal), cal)
    for i, qid in enumerate(data["qids"]):
        order = np.argsort(-coarse[i], kind="stable")
        assert coarse[i, order[k * m - 1]] > coarse[i, order[k * m]], "a tie at the candidate cut"
        candidates = order[: k * m]
        fine = starts[candidates] @ q[i].astype(np.float64)
        expected = candidates[np.argsort(-fine)[:k]]
        assert run_indices(run, qid) == expected.tolist()
        np.testing.assert_allclose(list(run[qid].values()), np.sort(fine)[::-1][:k], atol=1e-6)


def test_int8_calibrates_on_the_documents_by_default(data):
    q, d = data["queries"], data["docs"]
    default = quantized_search(q, d, data["qids"], data["dids"], "int8", k=5)
    explicit = quantized_search(
        q, d, data["qids"], data["dids"], "int8", k=5, calibration_embeddings=d
    )
    assert default == explicit


def test_binary_search_ranks_by_hamming_distance_lower_first(data):
    q, d, k = data["queries"], data["docs"], 25
    run = quantized_search(q, d, data["qids"], data["dids"], "binary", k=k, rescore=False)
    distances = hamming(q, d)
    # the packed bits count exactly the dimensions whose signs differ (padding bits agree)
    np.testing.assert_array_equal(distances, ((q[:, None, :] > 0) != (d[None] > 0)).sum(axis=2))
    for i, qid in enumerate(data["qids"]):
        docs = run_indices(run, qid)
        assert_a_valid_top_k(docs, distances[i], k, higher_better=False)
        assert list(run[qid].values()) == (-distances[i, docs]).astype(float).tolist()
        assert docs[0] == i  # each query is a noisy copy of its document


def test_binary_rescoring_equals_the_reference_when_every_document_is_a_candidate(data):
    q, d, k, m = data["queries"], data["docs"][:40], 10, 4  # k * m covers the 40 documents
    q = q[:20]
    run = quantized_search(
        q, d, data["qids"][:20], data["dids"][:40], "binary", k=k, rescore_multiplier=m
    )
    fine = q.astype(np.float64) @ bits01(d).T
    for i, qid in enumerate(data["qids"][:20]):
        order = np.argsort(-fine[i])[:k]
        assert run_indices(run, qid) == order.tolist()
        np.testing.assert_allclose(list(run[qid].values()), fine[i, order], atol=1e-5)


def test_binary_rescoring_reranks_the_hamming_candidates(data):
    q, d, k, m = data["queries"], data["docs"], 10, 3
    run = quantized_search(q, d, data["qids"], data["dids"], "binary", k=k, rescore_multiplier=m)
    distances, fine = hamming(q, d), q.astype(np.float64) @ bits01(d).T
    for i, qid in enumerate(data["qids"]):
        docs = run_indices(run, qid)
        cut = np.sort(distances[i])[k * m - 1]  # the candidates' largest Hamming distance
        assert (distances[i, docs] <= cut).all(), "a document from beyond the candidates"
        np.testing.assert_allclose(list(run[qid].values()), fine[i, docs], atol=1e-5)
        assert (np.diff(fine[i, docs]) <= 1e-9).all()
        sure = np.flatnonzero(distances[i] < cut)  # candidates whatever the tie order
        left_out = np.setdiff1d(sure, docs)
        assert (fine[i, left_out] <= fine[i, docs].min() + 1e-9).all()


def test_rescoring_brings_the_quantized_top_10_closer_to_the_exact_one(data):
    q, d, args = data["queries"], data["docs"], (data["qids"], data["dids"])
    exact = quantized_search(q, d, *args, "float32", k=10)

    def overlap(run: dict) -> float:
        return float(np.mean([len(set(run[x]) & set(exact[x])) / 10 for x in data["qids"]]))

    cal = data["calibration"]
    binary = overlap(quantized_search(q, d, *args, "binary", k=10, rescore=False))
    binary_rescored = overlap(quantized_search(q, d, *args, "binary", k=10))
    int8 = overlap(
        quantized_search(q, d, *args, "int8", k=10, rescore=False, calibration_embeddings=cal)
    )
    int8_rescored = overlap(quantized_search(q, d, *args, "int8", k=10, calibration_embeddings=cal))
    assert binary < binary_rescored and int8 <= int8_rescored
    # 8 bits per dimension keep far more of the ranking than 1 (measured on this isotropic
    # data: int8 finds 0.96 of the exact top 10 after rescoring; binary 0.46)
    assert int8_rescored > binary_rescored


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
@pytest.mark.parametrize("rescore", [False, True])
def test_k_larger_than_the_corpus_returns_every_document(data, precision, rescore):
    q, d = data["queries"][:2], data["docs"][:5]
    run = quantized_search(q, d, ["a", "b"], list("vwxyz"), precision, k=50, rescore=rescore)
    assert all(sorted(r) == list("vwxyz") for r in run.values())


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_raw_vectors_are_refused(data, precision):
    docs = data["docs"].copy()
    docs[3] *= 2
    with pytest.raises(
        NotNormalizedError, match=r"document embeddings are not unit length: row 3 has norm 2"
    ):
        quantized_search(data["queries"], docs, data["qids"], data["dids"], precision)
    with pytest.raises(NotNormalizedError, match="query embeddings are not unit length"):
        quantized_search(data["queries"] * 0.5, data["docs"], data["qids"], data["dids"], precision)


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_search_argument_errors(data, precision):
    q, d, qids, dids = data["queries"], data["docs"], data["qids"], data["dids"]
    with pytest.raises(InvalidInputError, match="doc_ids has 3 ids for 500 vectors"):
        quantized_search(q, d, qids, dids[:3], precision)
    with pytest.raises(InvalidInputError, match="query_ids has 1 ids for 30 vectors"):
        quantized_search(q, d, qids[:1], dids, precision)
    with pytest.raises(InvalidInputError, match="doc_ids contains duplicate ids"):
        quantized_search(q, d, qids, ["d0"] * 500, precision)
    with pytest.raises(IncompatibleEmbeddingsError, match="dimension mismatch: 100 vs 50"):
        quantized_search(q, truncate_and_normalize(d, 50), qids, dids, precision)
    with pytest.raises(IncompatibleEmbeddingsError, match="two different models"):
        quantized_search(Embeddings(q, model="a"), Embeddings(d, model="b"), qids, dids, precision)
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        quantized_search(q, d, qids, dids, precision, k=0)
    with pytest.raises(InvalidInputError, match="rescore_multiplier must be a positive integer"):
        quantized_search(q, d, qids, dids, precision, rescore_multiplier=0)


def test_an_unknown_precision_is_refused(data):
    with pytest.raises(
        InvalidInputError, match=r"precision must be one of \['float32', 'int8', 'binary'\]"
    ):
        quantized_search(data["queries"], data["docs"], data["qids"], data["dids"], "ubinary")


# --------------------------------------------------------------------------- real vectors


@pytest.mark.slow
def test_minilm_on_the_course_set_keeps_most_of_its_quality(course_minilm):
    """Lab 2x's comparison tables (embedlab.labs.lab2x) are tested in test_lab2x_helpers.py;
    here the search itself on real vectors: the top 10 of each method, scored by trec_eval."""
    import embedlab

    qrels = embedlab.load_course_retrieval().qrels
    r = course_minilm
    args = (r.query_embeddings, r.doc_embeddings, r.query_ids, r.doc_ids)

    def ndcg(precision: str, rescore: bool) -> float:
        run = quantized_search(*args, precision, k=10, rescore=rescore)
        return evaluate_run(run, qrels).summary["nDCG@10"]

    # measured nDCG@10: float32 0.780, int8 0.775, int8+rescore 0.781, binary 0.719,
    # binary+rescore 0.770 (k=10: 40 candidates of 383 documents are rescored)
    exact = ndcg("float32", False)
    assert exact == r.summary["nDCG@10"]
    assert ndcg("int8", False) / exact > 0.98
    assert ndcg("int8", True) / exact == pytest.approx(1.0, abs=0.01)
    binary, binary_rescored = ndcg("binary", False), ndcg("binary", True)
    assert binary / exact > 0.85 and binary_rescored / exact > 0.95
    assert binary_rescored > binary
