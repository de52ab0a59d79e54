"""Lab 2's own-data path on a BEIR folder the course does not ship, written here, with two
documents far longer than the models read: ``load_beir``, chunking with each model's
tokenizer, scoring a document by its best piece, and the same rule and record. Every
helper the notebook uses takes this dataset without an AttributeError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import embedlab
from embedlab.cache import EmbeddingCache
from embedlab.labs import lab2
from embedlab.labs.lab2 import chunk_texts, evaluate_chunked

SMALL, STATIC = "all-MiniLM-L6-v2", "static-MiniLM-L6-v2-256d"
FILLER = [
    "Most houseplants prefer bright, indirect light and a pot with a drainage hole.",
    "Water when the top two centimetres of soil feel dry, then let the pot drain fully.",
    "Feed every two weeks in spring and summer with a diluted liquid fertiliser.",
    "Turn pots a quarter turn each week so the stems grow straight towards the window.",
    "In winter most plants rest, so water less often and stop feeding until spring.",
    "Wipe large leaves with a damp cloth to remove dust that blocks the light.",
]
DOCS = {
    "g1": (
        "Caring for indoor plants",
        " ".join(FILLER * 5) + " If the leaves of your fern "
        "turn brown and crispy at the tips, the air is too dry: mist the fern every day or "
        "stand the pot on a tray of wet pebbles.",
    ),
    "g2": (
        "Running a garden compost heap",
        " ".join(FILLER[::-1] * 5) + " To keep rats out "
        "of a compost heap, never add cooked food, meat or bread, and lay a fine wire mesh "
        "under the bin.",
    ),
    "g3": ("Repotting a cactus", "Wear thick leather gloves and use a gritty, fast-draining soil."),
    "g4": ("Choosing a watering can", "A long thin spout reaches the pots at the back of a shelf."),
    "g5": ("Fern varieties for beginners", "Boston ferns and maidenhair ferns grow well indoors."),
    "g6": ("Compost bins compared", "Plastic bins are cheap; wooden bins look nicer in a garden."),
}
QUERIES = {
    "q1": "the tips of my fern leaves are going brown and crunchy",
    "q2": "how do I stop rats getting into my compost",
    "q3": "gloves for handling a cactus",
    "q4": "watering can with a long spout",
}
QRELS = [
    ("q1", "g1", 2),
    ("q1", "g5", 0),
    ("q2", "g2", 2),
    ("q2", "g6", 0),
    ("q3", "g3", 2),
    ("q4", "g4", 2),
]


def choose_model(table, budget_ms, margin):
    ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]
    return ok["nDCG@10"].idxmax() if len(ok) else None


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("garden_club")
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as f:
        for did, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": did, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels").mkdir()
    lines = ["query-id\tcorpus-id\tscore", *("\t".join(map(str, r)) for r in QRELS)]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def ds(folder):
    return embedlab.load_beir(folder)


def reference_pieces(spans: list[tuple[int, int]], text: str, size: int, overlap: int):
    """Windows of ``size`` tokens, each starting ``size - overlap`` tokens after the last,
    until one reaches the last token (written independently of chunk_texts)."""
    if len(spans) <= size:
        return [text]
    pieces, start = [], 0
    while True:
        window = spans[start : start + size]
        pieces.append(text[window[0][0] : window[-1][1]])
        if start + size >= len(spans):
            return pieces
        start += size - overlap


@pytest.mark.parametrize("which", ["minilm", "static_model"])
def test_chunk_texts_splits_long_documents_with_the_models_tokenizer(which, ds, request):
    model = request.getfixturevalue(which)
    texts = ds.doc_texts()
    pieces, owner = chunk_texts(model, texts, max_tokens=200, overlap=50)
    assert sorted(set(owner)) == list(range(len(texts))) and owner == sorted(owner)
    counts = {i: owner.count(i) for i in set(owner)}
    assert counts[0] >= 3 and counts[1] >= 3 and all(counts[i] == 1 for i in range(2, 6))
    spans_of = lab2._token_spans(model)
    for i, text in enumerate(texts):
        mine = [p for p, o in zip(pieces, owner, strict=True) if o == i]
        assert mine == reference_pieces(spans_of(text), text, 200, 50)
    assert pieces[owner.index(2)] == texts[2]  # a short document stays whole
    long_ones = [p for p, o in zip(pieces, owner, strict=True) if o < 2]
    assert max(len(spans_of(p)) for p in long_ones) <= 201  # a cut may split a word in two


def test_chunk_texts_respects_what_the_model_reads_and_rejects_bad_sizes(minilm, ds):
    pieces, owner = chunk_texts(minilm, ds.doc_texts(), max_tokens=10_000, overlap=0)
    assert owner.count(0) >= 2  # capped at MiniLM's 256 - 2 tokens, not 10,000
    with pytest.raises(embedlab.InvalidInputError, match="overlap must be an int from 0 to 9"):
        chunk_texts(minilm, ["text"], max_tokens=10, overlap=10)
    with pytest.raises(embedlab.InvalidInputError, match="max_tokens must be a positive"):
        chunk_texts(minilm, ["text"], max_tokens=0)


def test_a_document_scores_as_its_best_piece(minilm, ds):
    with EmbeddingCache(":memory:") as cache:
        chunked = evaluate_chunked(minilm, ds, cache=cache)
        truncated = embedlab.evaluate_model(minilm, ds, cache=cache)
    pieces, owner = chunk_texts(minilm, ds.doc_texts())
    q = minilm.encode_query([QUERIES["q1"]], normalize_embeddings=True)
    p = minilm.encode_document(pieces, normalize_embeddings=True)
    best = {
        did: max(float(q[0] @ p[j]) for j in range(len(pieces)) if owner[j] == i)
        for i, did in enumerate(ds.doc_ids)
    }
    assert chunked.run["q1"] == pytest.approx(best, abs=1e-5)
    # the fern answer sits past the 256 tokens MiniLM reads: only the pieces find it
    assert next(iter(chunked.run["q1"])) == "g1" and next(iter(truncated.run["q1"])) != "g1"
    assert chunked.per_query.loc["q1", "nDCG@10"] > truncated.per_query.loc["q1", "nDCG@10"]
    assert chunked.doc_embeddings is None and chunked.query_embeddings.shape == (4, 384)


def test_with_nothing_to_split_it_is_evaluate_model(static_model):
    course = embedlab.load_course_retrieval()
    with EmbeddingCache(":memory:") as cache:
        plain = embedlab.evaluate_model(static_model, course, cache=cache)
        chunked = evaluate_chunked(static_model, course, cache=cache)
    assert chunked.run == plain.run
    assert chunked.per_query.equals(plain.per_query)
    np.testing.assert_array_equal(chunked.doc_embeddings, plain.doc_embeddings)


def test_the_whole_selection_and_record_on_your_own_folder(
    minilm, static_model, folder, tmp_path, private_cache_dir
):
    mine = embedlab.load_beir(folder)
    models = {SMALL: minilm, STATIC: static_model}
    decision = lab2.select_model(
        mine, models, choose_model, budget_ms=1000.0, margin=0.05, n_queries=4, rounds=2
    )
    assert decision.chunking == (
        f"{folder.name}: 6 documents (2 longer than 200 tokens, split into "
        f"{len(chunk_texts(minilm, mine.doc_texts())[0])} pieces), 4 queries."
    )
    assert decision.chosen != STATIC or decision.table.loc[STATIC, "loss_low"] <= 0.05
    assert decision.table["dims"].tolist() == [384, 256]
    assert "Only 4 queries per round" in decision.noise
    record = lab2.decision_record(decision, models=models, dataset=mine)
    md = record.save(tmp_path / "record.md").read_text(encoding="utf-8")
    assert f"{folder.name} (6 documents, 4 queries)" in md and "## Provenance" in md


def test_every_helper_the_notebook_uses_takes_your_dataset(minilm, static_model, ds):
    models = {SMALL: minilm, STATIC: static_model}
    with EmbeddingCache(":memory:") as cache:
        results = {n: embedlab.evaluate_model(m, ds, cache=cache) for n, m in models.items()}
    boot = embedlab.paired_bootstrap(results[SMALL], results[STATIC])
    assert boot["n_queries"] == 4
    latency = lab2.measure_rounds(models, ds.query_texts(), rounds=1)
    sweeps = {
        n: embedlab.batch_sweep(m, ds.doc_texts(), (1, 2), threads=1) for n, m in models.items()
    }
    table = lab2.model_table(results, latency, sweeps)
    assert table["dims"].tolist() == [384, 256]
    decision = lab2.decide(choose_model, results, latency, sweeps, budget_ms=1000.0, margin=0.05)
    assert "## Provenance" in lab2.decision_record(decision, models=models, dataset=ds).markdown


def test_warm_fills_what_the_notebook_reads(static_model, private_cache_dir, monkeypatch):
    """lab2.warm with the static model alone (the others take minutes): afterwards the
    notebook's reads through the cache (evaluate_model, and select_model's evaluate_chunked
    on the course folder) embed nothing."""
    from embedlab.cache import default_cache

    monkeypatch.setattr(embedlab.models, "COURSE_MODELS", (STATIC,))
    loaded = []
    lab2.warm(lambda name: loaded.append(name) or static_model)
    assert loaded == [STATIC]
    cache = default_cache()
    before = cache.stats()
    course = embedlab.load_course_retrieval()
    embedlab.evaluate_model(static_model, course)
    evaluate_chunked(static_model, embedlab.load_beir(embedlab.data.DATA / "course_retrieval"))
    after = cache.stats()
    assert after["misses"] == before["misses"] and after["hits"] > before["hits"]
    assert (
        after["entries"]
        == before["entries"]
        == len(set(course.query_texts())) + len(set(course.doc_texts()))
    )
