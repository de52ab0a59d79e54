"""Figure 3: memory and exact top-10 search time at float32, int8 and binary precision."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import embedlab
from benchmarks.common import Config, Section, Summary, human_bytes, round_robin, table

MODEL = "all-MiniLM-L6-v2"
K = 10
RESCORE_MULTIPLIER = 4
#: Standard deviation of the Gaussian noise added to each coordinate of a tiled copy.
SIGMA = 0.02
CALIBRATION_SAMPLE = 10_000

Searcher = Callable[[np.ndarray], np.ndarray]  # float queries -> (n_queries, K) doc indices


# --------------------------------------------------------------------------- data


@dataclass
class SearchData:
    """The real course embeddings, the tiled corpus and the course queries."""

    base: np.ndarray  # course docs + Lab 1 sentences, MiniLM document embeddings
    corpus: np.ndarray  # (n_docs, 384) float32, unit length
    queries: np.ndarray  # the course queries, MiniLM query embeddings
    course_docs: np.ndarray
    dataset: Any


def course_subset(ds: Any, n: int) -> Any:
    """The first ``n`` documents and ``n // 2`` queries of ``ds`` (for ``--smoke``)."""
    queries = dict(list(ds.queries.items())[: max(1, n // 2)])
    return type(ds)(
        corpus=dict(list(ds.corpus.items())[:n]),
        queries=queries,
        qrels={q: ds.qrels[q] for q in queries if q in ds.qrels},
        name=f"{ds.name}[:{n}]",
    )


def course_embeddings(
    model: Any, subset: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """(course doc vectors, Lab 1 sentence vectors, course query vectors, dataset)."""
    ds = embedlab.load_course_retrieval()
    sentences = embedlab.load_sentences()["text"].tolist()
    if subset is not None:
        ds, sentences = course_subset(ds, subset), sentences[:subset]
    docs = np.asarray(embedlab.embed(model, ds.doc_texts(), kind="document"))
    sents = np.asarray(embedlab.embed(model, sentences, kind="document"))
    queries = np.asarray(embedlab.embed(model, ds.query_texts(), kind="query"))
    return docs, sents, queries, ds


def tile(base: np.ndarray, n: int, sigma: float = SIGMA, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors: ``base`` itself, then copies of it plus N(0, sigma²) noise.

    Copy ``c >= 1`` of row ``i`` is ``normalise(base[i] + sigma * z)`` with ``z`` standard
    normal (``numpy.random.default_rng(seed)``); the last copy is cut to reach ``n`` rows.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    out[: min(n, len(base))] = base[:n]
    for start in range(len(base), n, len(base)):
        rows = min(len(base), n - start)
        copy = base[:rows] + sigma * rng.standard_normal((rows, base.shape[1]), np.float32)
        out[start : start + rows] = copy / np.linalg.norm(copy, axis=1, keepdims=True)
    return out


def load_data(cfg: Config) -> SearchData:
    """Embed the course texts with MiniLM and tile them to ``cfg.search_docs`` vectors."""
    model = embedlab.load_model(MODEL)
    docs, sents, queries, ds = course_embeddings(model, cfg.search_course_subset)
    base = np.vstack([docs, sents])
    return SearchData(base, tile(base, cfg.search_docs, seed=cfg.seed), queries, docs, ds)


# --------------------------------------------------------------------------- numpy search


def top_k(scores: np.ndarray, k: int = K) -> np.ndarray:
    """Column indices of the ``k`` highest scores of each row, best first."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def numpy_float32(docs: np.ndarray) -> Searcher:
    """Exact inner-product search with one BLAS matmul."""
    return lambda q: top_k(q @ docs.T)


def numpy_int8(codes: np.ndarray, ranges: np.ndarray, block: int = 16_384) -> Searcher:
    """Integer dot product of int8 codes, as float32 BLAS matmuls over blocks of docs.

    Exact: every partial sum is an integer below 2**24. Only one block of documents is
    converted to float32 at a time, so memory stays at the int8 size plus one block.
    """

    def search(q: np.ndarray) -> np.ndarray:
        q8 = embedlab.quantize(q, "int8", ranges=ranges).astype(np.float32)
        scores = np.empty((len(q), len(codes)), dtype=np.float32)
        for start in range(0, len(codes), block):
            part = codes[start : start + block].astype(np.float32)
            scores[:, start : start + block] = q8 @ part.T
        return top_k(scores)

    return search


def hamming_numpy(bits: np.ndarray, q_bits: np.ndarray, k: int, block: int = 8) -> np.ndarray:
    """Indices of the ``k`` smallest Hamming distances: XOR + popcount on 64-bit words."""
    d64 = np.ascontiguousarray(bits).view(np.uint64)
    q64 = np.ascontiguousarray(q_bits).view(np.uint64)
    out = []
    for start in range(0, len(q64), block):
        q = q64[start : start + block]
        dist = np.bitwise_count(q[:, None, :] ^ d64[None, :, :]).sum(axis=-1, dtype=np.int32)
        out.append(top_k(-dist, k))
    return np.vstack(out)


def rescore(q: np.ndarray, bits: np.ndarray, candidates: np.ndarray, dims: int) -> np.ndarray:
    """Re-rank binary candidates by float query · ±1 sign vector; keep the top ``K``."""
    signs = np.unpackbits(bits[candidates], axis=-1)[..., :dims].astype(np.float32) * 2 - 1
    scores = np.einsum("qd,qmd->qm", q, signs)
    best = top_k(scores)
    return np.take_along_axis(candidates, best, axis=1)


def numpy_binary(bits: np.ndarray, dims: int, rescored: bool) -> Searcher:
    """Hamming search with numpy, optionally rescored."""

    def search(q: np.ndarray) -> np.ndarray:
        qb = embedlab.quantize(q, "binary")
        if not rescored:
            return hamming_numpy(bits, qb, K)
        return rescore(q, bits, hamming_numpy(bits, qb, K * RESCORE_MULTIPLIER), dims)

    return search


# --------------------------------------------------------------------------- faiss search


def faiss_float32(docs: np.ndarray) -> tuple[Searcher, int]:
    """``faiss.IndexFlatIP`` (exact) and its code bytes."""
    import faiss

    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(docs)
    return (lambda q: index.search(q, K)[1]), index.ntotal * index.code_size


def faiss_sq8(docs: np.ndarray, sample: np.ndarray) -> tuple[Searcher, int]:
    """``faiss.IndexScalarQuantizer`` QT_8bit (its own trained ranges; float query)."""
    import faiss

    index = faiss.IndexScalarQuantizer(
        docs.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.train(sample)
    index.add(docs)
    return (lambda q: index.search(q, K)[1]), index.ntotal * index.code_size


def faiss_binary(bits: np.ndarray, dims: int, rescored: bool) -> tuple[Searcher, int]:
    """``faiss.IndexBinaryFlat`` (exact Hamming), optionally rescored with numpy."""
    import faiss

    index = faiss.IndexBinaryFlat(bits.shape[1] * 8)
    index.add(bits)

    def search(q: np.ndarray) -> np.ndarray:
        qb = embedlab.quantize(q, "binary")
        if not rescored:
            return index.search(qb, K)[1]
        candidates = index.search(qb, K * RESCORE_MULTIPLIER)[1].astype(np.int64)
        return rescore(q, bits, candidates, dims)

    return search, index.ntotal * index.code_size


# --------------------------------------------------------------------------- benchmark


@dataclass
class Method:
    """One row of the table: a precision and its two searchers."""

    name: str
    bytes_: int
    numpy_fn: Searcher
    library_fn: Searcher
    library: str


def build_methods(corpus: np.ndarray, seed: int) -> list[Method]:
    """Quantise the corpus and build every searcher."""
    dims = corpus.shape[1]
    rng = np.random.default_rng(seed)
    sample = corpus[rng.choice(len(corpus), min(CALIBRATION_SAMPLE, len(corpus)), False)]
    ranges = embedlab.calibration_ranges(sample)
    codes = embedlab.quantize(corpus, "int8", ranges=ranges)
    bits = embedlab.quantize(corpus, "binary")
    f32, f32_bytes = faiss_float32(corpus)
    sq8, sq8_bytes = faiss_sq8(corpus, sample)
    fb, fb_bytes = faiss_binary(bits, dims, rescored=False)
    fbr, _ = faiss_binary(bits, dims, rescored=True)
    return [
        Method("float32", corpus.nbytes, numpy_float32(corpus), f32,
               f"faiss IndexFlatIP ({human_bytes(f32_bytes)})"),
        Method("int8", codes.nbytes, numpy_int8(codes, ranges), sq8,
               f"faiss IndexScalarQuantizer QT_8bit ({human_bytes(sq8_bytes)})"),
        Method("binary", bits.nbytes, numpy_binary(bits, dims, False), fb,
               f"faiss IndexBinaryFlat ({human_bytes(fb_bytes)})"),
        Method("binary+rescore", bits.nbytes, numpy_binary(bits, dims, True), fbr,
               "faiss IndexBinaryFlat + numpy rescore"),
    ]  # fmt: skip


def agreement(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact float32 top-K that a method also returns."""
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, exact, strict=True)]))


def retention(data: SearchData) -> Any:
    """``embedlab.compare_precisions`` on the course set (nDCG@10 and its retention)."""
    ds = data.dataset

    def evaluate(run: Any, qrels: Any) -> float:
        return embedlab.evaluate_run(run, qrels).summary["nDCG@10"]

    return embedlab.compare_precisions(
        data.queries,
        data.course_docs,
        ds.query_ids,
        ds.doc_ids,
        ds.qrels,
        evaluate,
        calibration_embeddings=data.course_docs,
    )


def run(cfg: Config) -> Section:
    """Measure quantised search and write the section."""
    start = time.perf_counter()
    data = load_data(cfg)
    methods = build_methods(data.corpus, cfg.seed)
    q = data.queries
    fns = {}
    for m in methods:
        fns[(m.name, "numpy")] = lambda f=m.numpy_fn: f(q)
        fns[(m.name, "library")] = lambda f=m.library_fn: f(q)
    times = round_robin(fns, rounds=cfg.search_rounds, seed=cfg.seed)
    exact = methods[0].numpy_fn(q)
    rows, data_out = [], {"methods": {}}
    for m in methods:
        t_np, t_lib = Summary.of(times[(m.name, "numpy")]), Summary.of(times[(m.name, "library")])
        agree_np, agree_lib = agreement(m.numpy_fn(q), exact), agreement(m.library_fn(q), exact)
        rows.append(
            [
                m.name,
                human_bytes(m.bytes_),
                f"{data.corpus.nbytes / m.bytes_:.0f}×",
                t_np.fmt(1000),
                f"{agree_np:.3f}",
                m.library,
                t_lib.fmt(1000),
                f"{agree_lib:.3f}",
            ]
        )
        data_out["methods"][m.name] = {"numpy": t_np, "library": t_lib, "bytes": m.bytes_}
    kept = retention(data)
    data_out["retention"] = kept
    body = _body(cfg, data, rows, kept)
    return Section("3. Quantized search", body, data_out, time.perf_counter() - start)


def _body(cfg: Config, data: SearchData, rows: list[list[Any]], kept: Any) -> str:
    n, dims = data.corpus.shape
    header = [
        "precision",
        "memory (doc codes)",
        "smaller",
        "numpy ms / batch",
        "top-10 overlap",
        "library path (index size)",
        "library ms / batch",
        "top-10 overlap",
    ]
    kept_rows = [
        [name, int(r["bytes_per_vector"]), f"{r['memory_ratio']:g}×", f"{r['nDCG@10']:.4f}",
         f"{r['retention']:.1%}"]
        for name, r in kept.iterrows()
    ]  # fmt: skip
    return f"""
Command: `{cfg.command}`

**Corpus** ({n:,} × {dims} float32, unit length): the {MODEL} document embeddings of the
{len(data.course_docs)} course documents and the {len(data.base) - len(data.course_docs)}
Lab 1 sentences ({len(data.base)} real vectors, rows 0–{len(data.base) - 1}), then copies of
them with Gaussian noise: copy *c* ≥ 1 of vector *v* is `normalise(v + {SIGMA} · z)`,
z ~ N(0, I) from `numpy.random.default_rng({cfg.seed})`, until {n:,} rows (a noisy copy keeps
a cosine of about {1 / np.sqrt(1 + SIGMA**2 * dims):.2f} with its source). **Queries**: the
{len(data.queries)} course queries, embedded with `kind="query"`; one batch = all of them.

Exact top-{K} per query. Time per batch of {len(data.queries)} queries, median [IQR; range]
over {cfg.search_rounds} rounds; every searcher is timed once per round, in a shuffled order.
Query quantisation is included in the time; building the index is not.
int8 codes use `embedlab.quantize(..., "int8")` with ranges from
`embedlab.calibration_ranges` on {CALIBRATION_SAMPLE:,} random corpus rows; the numpy path
scores int8 · int8 with float32 BLAS over 16,384-document blocks (exact integer sums). faiss
has no int8 · int8 flat index, so its int8 row is `IndexScalarQuantizer` (8-bit, its own
trained ranges, float query · decoded document): another int8 method, not the same numbers.
Binary = `np.packbits(x > 0)`, Hamming distance; numpy path = XOR + `np.bitwise_count` on
64-bit words. Rescore = {K * RESCORE_MULTIPLIER} Hamming candidates re-ranked by float query ·
±1 signs (the documents never exist in float32). "top-10 overlap" = share of the exact
float32 top-10 also returned. It is a worst case here: a query's float32 top-10 is drawn
from the ~{n // len(data.base)} noisy copies of a few source vectors, which differ only by the
added noise, so any quantisation error reorders them; the course-set table below is the
quality figure. Memory = bytes of the document codes (`embedlab.memory_footprint({n}, {dims})`
gives the same); faiss index sizes are ntotal × code_size.

{table(header, rows)}

**Quality on the course set** (real, not tiled: {len(data.course_docs)} documents,
{len(data.queries)} queries, graded qrels), `embedlab.compare_precisions` on {MODEL}
embeddings with the course documents as int8 calibration and
`evaluate = lambda run, qrels: embedlab.evaluate_run(run, qrels).summary["nDCG@10"]`:

{table(["method", "bytes/vector", "smaller", "nDCG@10", "retention"], kept_rows)}
"""
