"""Figure 3: the course's search functions at float32, int8 and binary precision.

``embedlab.search`` (float32, exact) and ``embedlab.quantized_search`` (sentence-transformers'
``quantize_embeddings``; ``semantic_search_faiss`` for binary, a dot product of the int8 codes
for int8) as the labs call them, on 100,000 vectors; the search alone on an index (or codes)
built once, for comparison; memory; and the nDCG@10 each precision keeps on the course set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import embedlab
from benchmarks.common import Config, Section, Summary, human_bytes, round_robin, table
from embedlab.data import BeirDataset
from embedlab.labs.lab2x import compare_precisions
from embedlab.retrieval import top_k

MODEL = "all-MiniLM-L6-v2"
K = 10
RESCORE_MULTIPLIER = 4  # quantized_search's default
SIGMA = 0.02  # standard deviation of the noise added to each coordinate of a tiled copy
CALIBRATION_SAMPLE = 10_000
METHODS = ("float32", "int8", "int8+rescore", "binary", "binary+rescore")


def course_subset(ds: BeirDataset, n: int) -> BeirDataset:
    """The first ``n`` documents and ``n // 2`` queries of ``ds`` (for ``--smoke``)."""
    queries = dict(list(ds.queries.items())[: max(1, n // 2)])
    return BeirDataset(
        corpus=dict(list(ds.corpus.items())[:n]),
        queries=queries,
        qrels={q: ds.qrels[q] for q in queries if q in ds.qrels},
        name=f"{ds.name}[:{n}]",
    )


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


@dataclass
class SearchData:
    """The course set evaluated with MiniLM, and the tiled corpus built from it."""

    course: Any  # embedlab.evaluate_model's result: run, embeddings, ids
    dataset: BeirDataset
    n_sentences: int
    corpus: np.ndarray  # (n_docs, 384) float32, unit length
    queries: np.ndarray  # the course queries (encode_query), unit length
    query_ids: list[str]
    doc_ids: list[str]


def load_data(cfg: Config) -> SearchData:
    """Evaluate MiniLM on the course set; tile its document and Lab 1 sentence vectors."""
    model = embedlab.load_model(MODEL, device="cpu")
    ds = embedlab.load_course_retrieval()
    sentences = embedlab.load_sentences()["text"].tolist()
    if cfg.search_course_subset is not None:
        ds, sentences = course_subset(ds, cfg.search_course_subset), sentences[:40]
    course = embedlab.evaluate_model(model, ds, cache=False)
    base = np.vstack([course.doc_embeddings, np.asarray(embedlab.embed(model, sentences))])
    corpus = tile(base, cfg.search_docs, seed=cfg.seed)
    doc_ids = [f"d{i:06d}" for i in range(len(corpus))]
    return SearchData(
        course, ds, len(sentences), corpus, course.query_embeddings, course.query_ids, doc_ids
    )


@dataclass
class Method:
    """One precision: the course call, the same faiss search on a prebuilt index, memory."""

    name: str
    call: Callable[[], dict]  # returns a run {query_id: {doc_id: score}}
    prebuilt: Callable[[], Any]
    code_bytes: int
    index_bytes: int


def build_methods(data: SearchData, seed: int) -> list[Method]:
    """The five searches over ``data.corpus`` and their prebuilt-index twins."""
    from sentence_transformers.util.quantization import (
        quantize_embeddings,
        semantic_search_faiss,
    )

    q, d, qids, dids = data.queries, data.corpus, data.query_ids, data.doc_ids
    rng = np.random.default_rng(seed)
    sample = d[rng.choice(len(d), min(CALIBRATION_SAMPLE, len(d)), replace=False)]
    methods = []
    for name in METHODS:
        precision, rescore = name.split("+")[0], name.endswith("+rescore")
        faiss_precision = {"float32": "float32", "binary": "ubinary"}.get(precision)
        if precision == "float32":

            def call() -> dict:
                return embedlab.search(q, d, qids, dids, k=K)

            codes = d
        else:

            def call(p: str = precision, r: bool = rescore) -> dict:
                return embedlab.quantized_search(
                    q, d, qids, dids, p, k=K, rescore=r, calibration_embeddings=sample
                )

            codes = quantize_embeddings(
                d, precision=faiss_precision or "int8", calibration_embeddings=sample
            )
        if precision == "int8":  # no faiss index: the codes' dot product and top-k alone
            qcodes = quantize_embeddings(q, precision="int8", calibration_embeddings=sample)

            def prebuilt(qc: Any = qcodes, dc: Any = codes) -> Any:
                return top_k(qc.astype(np.float32) @ dc.astype(np.float32).T, dids, K)

            methods.append(Method(name, call, prebuilt, codes.nbytes, codes.nbytes))
            continue
        kw = {
            "corpus_precision": faiss_precision,
            "top_k": K,
            "rescore": rescore,
            "rescore_multiplier": RESCORE_MULTIPLIER,
        }
        *_, index = semantic_search_faiss(q, corpus_embeddings=codes, output_index=True, **kw)

        def prebuilt(index: Any = index, kw: dict = kw) -> Any:
            return semantic_search_faiss(q, corpus_index=index, **kw)

        methods.append(Method(name, call, prebuilt, codes.nbytes, index.ntotal * index.code_size))
    return methods


def overlap(run: dict, exact: dict) -> float:
    """Mean share of the exact float32 top-K documents that ``run`` also returns."""
    return float(np.mean([len(set(run[q]) & set(exact[q])) / K for q in exact]))


def run(cfg: Config) -> Section:
    """Measure the course's search functions and write the section."""
    start = time.perf_counter()
    data = load_data(cfg)
    methods = build_methods(data, cfg.seed)
    fns = {}
    for m in methods:
        fns[(m.name, "call")] = m.call
        fns[(m.name, "prebuilt")] = m.prebuilt
    times = round_robin(fns, rounds=cfg.search_rounds, seed=cfg.seed, clock=time.process_time)
    exact = methods[0].call()
    out = {
        m.name: {
            "call": Summary.of(times[(m.name, "call")]),
            "prebuilt": Summary.of(times[(m.name, "prebuilt")]),
            "code_bytes": m.code_bytes,
            "index_bytes": m.index_bytes,
            "overlap": overlap(m.call(), exact),
        }
        for m in methods
    }
    kept = compare_precisions(data.course, data.dataset.qrels)
    body = _body(cfg, data, out, kept)
    data_out = {"methods": out, "retention": kept}
    return Section("3. Quantized search", body, data_out, time.perf_counter() - start)


def _call_text(name: str) -> str:
    if name == "float32":
        return f"`embedlab.search(q, docs, qids, dids, k={K})`"
    precision, rescore = name.split("+")[0], name.endswith("+rescore")
    return f'`embedlab.quantized_search(..., "{precision}", k={K}, rescore={rescore})`'


def _body(cfg: Config, data: SearchData, out: dict[str, Any], kept: Any) -> str:
    n, dims = data.corpus.shape
    n_base = len(data.course.doc_embeddings) + data.n_sentences
    full = out["float32"]["code_bytes"]
    rows = [
        [
            name,
            _call_text(name),
            f"**{m['call'].fmt(1000)}**",
            m["prebuilt"].fmt(1000),
            f"{human_bytes(m['code_bytes'])} ({full / m['code_bytes']:.0f}× smaller)",
            human_bytes(m["index_bytes"]),
            f"{m['overlap']:.3f}",
        ]
        for name, m in out.items()
    ]
    header = [
        "method", "course call (timed)", "ms per call", "ms, index built once",
        "document codes", "index", "top-10 overlap",
    ]  # fmt: skip
    kept_rows = [
        [name, int(r["bytes_per_vector"]), f"{r['nDCG@10']:.4f}", f"{r['retention']:.1%}"]
        for name, r in kept.iterrows()
    ]
    return f"""
Command: `{cfg.command}`

**Corpus** ({n:,} × {dims} float32, unit length): the {MODEL} document embeddings of the
{len(data.course.doc_embeddings)} course documents and {data.n_sentences} Lab 1 sentences
({n_base} real vectors), then copies of them with Gaussian noise: copy *c* ≥ 1 of *v* is
`normalise(v + {SIGMA} · z)`, z ~ N(0, I) from `numpy.random.default_rng({cfg.seed})`
(cosine ≈ {1 / np.sqrt(1 + SIGMA**2 * dims):.2f} with its source). **Queries**: the
{len(data.queries)} course queries (`encode_query`), all in one call. Top-{K} per query.

**ms per call**: the function the labs call, as they call it (`embedlab.search` for float32;
`embedlab.quantized_search` with int8 calibration from {min(CALIBRATION_SAMPLE, n):,} random
corpus rows, `rescore_multiplier={RESCORE_MULTIPLIER}`), median [IQR; range] over
{cfg.search_rounds} rounds; all ten timed functions run once per round in a shuffled order.
Clock: `time.process_time`, CPU time of this process (it stops while other processes hold
the cores; with one thread, the default `--threads 1`, it is the latency on an idle core).
Both course functions take embeddings, not an index, so every call also checks and
normalises the documents and (quantized) quantizes them, and for binary builds a faiss index.
**Index built once**: float32 and binary: sentence-transformers' `semantic_search_faiss` on an
index built beforehand (`corpus_index=`), same settings (for float32, faiss's flat
inner-product index, where `embedlab.search` is one NumPy matrix product); int8: the dot
product of precomputed codes and the top-k (no rescoring): the search alone.
**Document codes**: `quantize_embeddings` output;
**index**: ntotal × code_size of the faiss index (int8: the codes themselves).
**Top-10 overlap**: share of the float32 top-10 also returned, a worst case on this tiled
corpus (a query's top-10 are near-identical noisy copies, reordered by any quantization
error); the quality figure is the course-set table below.

{table(header, rows)}

**Quality on the course set** ({len(data.course.doc_embeddings)} documents,
{len(data.queries)} queries, graded qrels): `embedlab.labs.lab2x.compare_precisions` on
`embedlab.evaluate_model({MODEL})`, int8 calibrated on the documents:

{table(["method", "bytes/vector", "nDCG@10", "retention"], kept_rows)}
"""
