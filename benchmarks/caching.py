"""Figure 2: a warm ``cached_encode`` vs encoding with MiniLM, and
``IncrementalIndex.update`` after editing exactly 1% of a corpus."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import embedlab
from benchmarks.common import Config, Section, Summary, ratio, round_robin, table, timed
from embedlab.cache import EmbeddingCache, IncrementalIndex, cached_encode

#: A warm look-up should be at least this many times faster than encoding.
GOAL_SPEEDUP = 100.0
MODEL = "all-MiniLM-L6-v2"


def sentence_pool() -> list[str]:
    """Short course texts: Lab 1 sentences, course queries, first sentence of each doc."""
    ds = embedlab.load_course_retrieval()
    firsts = [text.split(". ")[0].rstrip(".") + "." for text in ds.doc_texts()]
    pool = embedlab.load_sentences()["text"].tolist() + ds.query_texts() + firsts
    return list(dict.fromkeys(t.strip() for t in pool if t.strip()))


def recombined_corpus(n: int, seed: int = 0) -> dict[str, str]:
    """``n`` distinct documents, each two course texts joined: ``{"doc0000": text}``."""
    pool = sentence_pool()
    rng = random.Random(seed)
    texts: dict[str, None] = {}
    while len(texts) < n:
        a, b = rng.sample(pool, 2)
        texts[f"{a} {b}"] = None
    return {f"doc{i:04d}": t for i, t in enumerate(texts)}


def edit_one_percent(
    corpus: dict[str, str], round_no: int, seed: int = 0
) -> tuple[dict[str, str], int]:
    """A copy of ``corpus`` with exactly 1% of its documents (at least one) rewritten."""
    n_changed = max(1, len(corpus) // 100)
    ids = random.Random(seed * 1000 + round_no).sample(sorted(corpus), n_changed)
    edited = dict(corpus)
    for doc_id in ids:
        edited[doc_id] = f"{corpus[doc_id]} (Edited in round {round_no}.)"
    return edited, n_changed


def run(cfg: Config) -> Section:
    """Measure the cache and write the section."""
    start = time.perf_counter()
    model = embedlab.load_model(MODEL, device="cpu")
    corpus = recombined_corpus(cfg.cache_corpus, cfg.seed)
    with tempfile.TemporaryDirectory(prefix="embedlab-bench-") as tmp:
        with EmbeddingCache(Path(tmp) / "bench.sqlite") as cache:
            data = _measure(cfg, model, cache, corpus)
    return Section("2. Embedding cache", _body(cfg, data), data, time.perf_counter() - start)


def _measure(
    cfg: Config, model: Any, cache: EmbeddingCache, corpus: dict[str, str]
) -> dict[str, Any]:
    index = IncrementalIndex(model, cache=cache)
    first, build_s = timed(lambda: index.update(corpus))  # every text is warm from here on

    texts = list(corpus.values())[: cfg.cache_lookup_texts]

    def encode() -> np.ndarray:
        return model.encode_document(texts, normalize_embeddings=True, convert_to_numpy=True)

    def lookup() -> np.ndarray:
        return cached_encode(model, texts, kind="document", cache=cache)

    misses = cache.misses
    max_diff = float(np.abs(lookup() - encode()).max())
    times = round_robin({"encode": encode, "lookup": lookup}, rounds=cfg.cache_rounds)
    all_warm = cache.misses == misses

    checks, update_times = [], []
    current = corpus
    for round_no in range(cfg.cache_rounds):
        current, n_changed = edit_one_percent(current, round_no, cfg.seed)
        report, seconds = timed(lambda c=current: index.update(c))
        update_times.append(seconds)
        checks.append((n_changed, report))
    noop, noop_s = timed(lambda: index.update(current))
    passed = all(
        r.embedded == n and r.changed == n and r.unchanged == len(corpus) - n and not r.added
        for n, r in checks
    ) and (noop.embedded == 0)
    return {
        "n_docs": len(corpus),
        "build_s": build_s,
        "build_report": first,
        "lookup_texts": len(texts),
        "encode": Summary.of(times["encode"]),
        "lookup": Summary.of(times["lookup"]),
        "speedup": ratio(times, "encode", "lookup"),
        "all_warm": all_warm,
        "max_abs_diff": max_diff,
        "update": Summary.of(update_times),
        "noop_s": noop_s,
        "noop_report": noop,
        "checks": checks,
        "update_pass": passed,
    }


def _body(cfg: Config, d: dict[str, Any]) -> str:
    speed = d["speedup"]
    verdict = "met" if speed.median >= GOAL_SPEEDUP else "**not met**"
    lookup_rows = [
        [f"`model.encode_document(texts, ...)`, {MODEL}", d["encode"].fmt(1000), "1×"],
        [
            '`cached_encode(model, texts, kind="document", cache=cache)`, warm',
            d["lookup"].fmt(1000),
            f"**{speed.fmt(digits=3)}×**",
        ],
    ]
    check_rows = [
        [i, n, r.embedded, r.changed, r.unchanged, "PASS" if r.embedded == n else "FAIL"]
        for i, (n, r) in enumerate(d["checks"])
    ]
    status = "PASS" if d["update_pass"] else "FAIL"
    header = ["round", "docs edited", "embedded", "changed", "unchanged", "embedded == edited"]
    return f"""
Command: `{cfg.command}`

Corpus: {d["n_docs"]:,} distinct documents, each two short course texts joined (Lab 1
sentences, course queries, first sentence of each course document; `random.Random({cfg.seed})`),
in a fresh `embedlab.cache.EmbeddingCache` file in a temporary folder. Building
`embedlab.IncrementalIndex(model, cache=cache)` with `update(corpus)` ({d["build_report"]})
took {d["build_s"]:.1f} s with {MODEL}.

**Warm `cached_encode` vs encoding** the first {d["lookup_texts"]} of those texts (all in
the cache: {"no miss during the timing" if d["all_warm"] else "**some look-ups missed**"}),
interleaved for {speed.n} rounds in a shuffled order; ms per call, median [IQR; range].
Speed-up = per-round ratio encode / look-up. The cached vectors equal a fresh encode to
{d["max_abs_diff"]:.1e} (max abs difference).

{table(["path", "ms per call", "speed-up"], lookup_rows)}

**Goal (≥ {GOAL_SPEEDUP:g}×)**: {verdict} (median {speed.median:,.0f}×).

**`IncrementalIndex.update` after editing exactly 1% of the corpus** (a different
{d["checks"][0][0]} of {d["n_docs"]:,} documents each round, {len(d["checks"])} rounds):
{d["update"].fmt(1000)} ms per update, vs {d["build_s"]:.1f} s for the first build; an update
with nothing changed took {d["noop_s"] * 1000:.3g} ms (`{d["noop_report"]}`).

{table(header, check_rows)}

**`UpdateReport.embedded` == documents edited, in every round: {status}**
"""
