"""Lab 3's own helpers: the knitting set against its datasheet, the inverse-cloze pairs
against the corpus they come from, the by-type table against a plain pandas computation, the
reference comparison on made-up results, the tuning record (its text, its provenance, the
files ``save`` writes) and ``warm``. Nothing here trains: the record's trainer is built on a
fresh copy of MiniLM and never run."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from datasets import Dataset, concatenate_datasets

import embedlab
from embedlab.data import join_title
from embedlab.labs import lab3


@pytest.fixture(scope="module")
def ds():
    return lab3.load_domain()


# --------------------------------------------------------------------------- load_domain


def test_load_domain_matches_its_datasheet(ds):
    """The counts DATASHEET.md states."""
    assert ds.name == "knitting_retrieval"
    assert len(ds.corpus) == 255 and len(ds.queries) == 88
    grades = pd.Series([g for judged in ds.qrels.values() for g in judged.values()])
    assert len(grades) == 259
    assert grades.value_counts().to_dict() == {2: 107, 1: 116, 0: 36}
    assert all(2 in judged.values() for judged in ds.qrels.values())  # a score-2 per query
    assert {d for judged in ds.qrels.values() for d in judged} <= set(ds.corpus)
    assert list(ds.query_meta.index) == list(ds.queries)
    assert ds.query_meta["type"].value_counts().to_dict() == {"plain_words": 66, "uses_term": 22}
    assert all(d["title"].strip() and d["text"].strip() for d in ds.corpus.values())
    sheet = (Path(lab3.__file__).parent.parent / "data/knitting_retrieval/DATASHEET.md").read_text()
    assert "**255 documents**" in sheet and "**88 queries**" in sheet


# --------------------------------------------------------------------------- cloze_pairs


@pytest.fixture(scope="module")
def cloze(ds) -> Dataset:
    return lab3.cloze_pairs(ds)


def test_cloze_pairs_come_from_the_corpus_only(ds, cloze):
    assert cloze.column_names == ["anchor", "positive"]
    queries = {q.strip().lower() for q in ds.queries.values()}
    texts = [d["text"] for d in ds.corpus.values()]
    for row in cloze:
        anchor, positive = row["anchor"], row["positive"]
        assert anchor.lower() not in queries and positive.lower() not in queries
        assert not any(q in anchor.lower() for q in queries)
        assert sum(anchor in text for text in texts) >= 1  # a sentence of a document
        assert len(anchor.split()) >= 5
        assert anchor not in positive  # the positive is the rest, not the whole passage


def test_cloze_positives_are_the_title_and_the_rest_of_the_document(ds, cloze):
    """Grouped by document, the anchors are the document's sentences in order; each positive
    is the title joined with the document's other anchors. What the anchors leave out of a
    text is only short fragments (under 5 words): the splitter's limit, stated in the
    docstring, seen in three passages of this set."""
    by_doc: dict[str, list[tuple[str, str]]] = {}
    for row in cloze:
        homes = [i for i, d in ds.corpus.items() if row["anchor"] in d["text"]]
        assert len(homes) == 1, row["anchor"]
        by_doc.setdefault(homes[0], []).append((row["anchor"], row["positive"]))
    assert len(cloze) == 475 and len(by_doc) > 100
    shortened = []
    for doc_id, rows in by_doc.items():
        doc, anchors = ds.corpus[doc_id], [a for a, _ in rows]
        assert len(anchors) >= 2  # one sentence alone has no "rest"
        for i, (_, positive) in enumerate(rows):
            rest = " ".join(anchors[:i] + anchors[i + 1 :])
            assert positive == join_title(doc["title"], rest)
            assert positive.startswith(doc["title"])
        left = doc["text"]
        for anchor in anchors:  # in order, each after the one before
            assert anchor in left
            left = left[left.index(anchor) + len(anchor) :]
        fragments = doc["text"]
        for anchor in anchors:
            fragments = fragments.replace(anchor, "|")
        for fragment in fragments.split("|"):
            assert len(fragment.split()) < 5, (doc_id, fragment)
        if any(f.strip() for f in fragments.split("|")):
            shortened.append(doc_id)
    assert len(shortened) <= 3, shortened
    no_pairs = set(ds.corpus) - set(by_doc)
    for doc_id in no_pairs:  # a passage with fewer than two long sentences gives no pair
        sentences = re.split(r"(?<=[.!?])\s+", ds.corpus[doc_id]["text"])
        assert sum(len(s.split()) >= 5 for s in sentences) < 2


def test_cloze_pairs_and_title_pairs_concatenate(ds, cloze):
    docs = list(ds.corpus.values())
    pairs = Dataset.from_dict(
        {"anchor": [d["title"] for d in docs], "positive": [d["text"] for d in docs]}
    )
    both = concatenate_datasets([pairs, cloze])
    assert len(both) == 730 and both.column_names == ["anchor", "positive"]
    assert both[255] == cloze[0]


# --------------------------------------------------------------------------- by_type


def _scores(ds, seed: int) -> SimpleNamespace:
    """evaluate_model's result as far as by_type reads it: nDCG@10 per query, shuffled."""
    rng = np.random.default_rng(seed)
    qids = list(ds.queries)
    rng.shuffle(qids)
    per_query = pd.DataFrame({"nDCG@10": rng.random(len(qids))}, index=qids)
    return SimpleNamespace(per_query=per_query)


def test_by_type_equals_a_plain_pandas_groupby(ds):
    results = {"base": _scores(ds, 1), "tuned": _scores(ds, 2)}
    table = lab3.by_type(results, ds)
    assert table.index.name == "nDCG@10"
    assert table.index.tolist() == ["all queries", "plain_words", "uses_term"]
    assert table.columns.tolist() == ["base", "tuned"]
    meta = pd.read_json(
        Path(lab3.__file__).parent.parent / "data/knitting_retrieval/queries.jsonl", lines=True
    )
    types = dict(zip(meta["_id"], meta["type"], strict=True))
    for name, result in results.items():
        scores = result.per_query["nDCG@10"]
        frame = pd.DataFrame({"score": scores, "type": [types[q] for q in scores.index]})
        assert table.loc["all queries", name] == round(scores.mean(), 3)
        for kind, mean in frame.groupby("type")["score"].mean().items():
            assert table.loc[kind, name] == round(mean, 3), (name, kind)


def test_by_type_reads_only_the_queries_a_result_scored(ds):
    """evaluate_run scores queries with a relevant document: a type's mean is over those."""
    result = _scores(ds, 3)
    result.per_query = result.per_query.drop(index=["q001", "q002"])
    table = lab3.by_type({"m": result}, ds)
    kept = result.per_query["nDCG@10"]
    plain = [q for q in kept.index if ds.query_meta.loc[q, "type"] == "plain_words"]
    assert table.loc["plain_words", "m"] == round(kept[plain].mean(), 3)
    assert table.loc["all queries", "m"] == round(kept.mean(), 3)


# --------------------------------------------------------------------------- against_reference


def _run(base: float, tuned: float, gain: float):
    def result(x: float) -> SimpleNamespace:
        return SimpleNamespace(summary={"nDCG@10": x})

    return result(base), result(tuned), {"mean_diff": gain, "ci_low": 0.0, "ci_high": 0.0}


def test_against_reference_within_the_tolerance():
    ref = lab3.REFERENCE
    line = lab3.against_reference(*_run(ref["base"], ref["tuned"] + 0.015, ref["gain"] - 0.015))
    assert line == (
        "Reference run (CPU, seed 0): base 0.458, tuned 0.569, gain +0.111. "
        "This run: the same within 0.02."
    )


@pytest.mark.parametrize("worst", ["base", "tuned", "gain"])
def test_against_reference_names_what_differs(worst):
    run = dict(lab3.REFERENCE)
    run[worst] += 0.03 if worst != "gain" else -0.03
    line = lab3.against_reference(*_run(run["base"], run["tuned"], run["gain"]))
    assert f"This run differs by more than {lab3.TOLERANCE} ({worst})" in line
    assert "the decision below uses this run's numbers" in line
    assert "the same within" not in line


# --------------------------------------------------------------------------- tuning_record


GAIN = {"mean_diff": 0.111, "ci_low": 0.067, "ci_high": 0.156, "n_queries": 88}
FORGETTING = {"mean_diff": -0.010, "ci_low": -0.034, "ci_high": 0.014, "n_queries": 96}


@pytest.fixture(scope="module")
def trained_parts(ds, tmp_path_factory) -> dict:
    """A trainer as the notebook builds it (never run) on a fresh copy of MiniLM."""
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses

    model = embedlab.load_model(lab3.BASE_MODEL, device="cpu")
    model.max_seq_length = 128
    docs = list(ds.corpus.values())
    pairs = Dataset.from_dict(
        {"anchor": [d["title"] for d in docs], "positive": [d["text"] for d in docs]}
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path_factory.mktemp("trainer")),
        max_steps=32,
        per_device_train_batch_size=32,
        learning_rate=8e-5,
        seed=0,
        save_strategy="no",
        report_to="none",
    )
    train_pairs = concatenate_datasets([pairs, lab3.cloze_pairs(ds)])
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=train_pairs,
        loss=losses.MultipleNegativesRankingLoss(model),
    )
    return {"model": model, "trainer": trainer, "train_pairs": train_pairs}


def _record(ship: bool, minilm, ds, parts) -> lab3.TuningRecord:
    return lab3.tuning_record(
        ship,
        base=minilm,
        model=parts["model"],
        trainer=parts["trainer"],
        gain=GAIN,
        forgetting=FORGETTING,
        max_loss=0.05,
        dataset=ds,
    )


def test_the_record_states_the_decision_the_rule_and_both_intervals(minilm, ds, trained_parts):
    record = _record(True, minilm, ds, trained_parts)
    text = record.markdown
    assert text.startswith("# Tuning record: all-MiniLM-L6-v2 on knitting_retrieval\n")
    assert "**Decision: ship the tuned model.**" in text
    assert "the gain's interval is above 0" in text
    assert "loses less than 0.05 nDCG@10 (its interval's low end above -0.05)" in text
    assert "Gain on knitting_retrieval (88 queries), tuned - base: +0.111, 95% interval " in text
    assert "[+0.067, +0.156]" in text
    assert "Course set (forgetting), tuned - base: -0.010, 95% interval [-0.034, +0.014]" in text
    kept = _record(False, minilm, ds, trained_parts)
    assert "**Decision: keep the base model.**" in kept.markdown and not kept.ship


def test_the_record_states_the_provenance(minilm, ds, trained_parts):
    from embedlab.models import model_info

    info = model_info(minilm)
    text = _record(True, minilm, ds, trained_parts).markdown
    assert f"`{info['repository']}` at revision `{info['revision']}`" in text
    assert f"weights sha256 `{info['weights_sha256']}`" in text
    weights = Path(info["folder"]) / "model.safetensors"  # the sha256 is the file's, really
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == info["weights_sha256"]
    rows = trained_parts["train_pairs"].to_pandas()[["anchor", "positive"]].values.tolist()
    sha = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
    assert "Training data: 730 pairs built from the knitting_retrieval corpus only" in text
    assert f"sha256 `{sha}`" in text
    assert (
        "Recipe: MultipleNegativesRankingLoss, 32 steps of 32, learning rate 8e-05, seed 0, "
        "max_seq_length 128." in text
    )
    import sentence_transformers
    import torch

    assert f"sentence-transformers {sentence_transformers.__version__}" in text
    assert f"torch {torch.__version__}; device cpu" in text


def test_save_writes_the_tuned_model_only_when_shipping(minilm, ds, trained_parts, tmp_path):
    record = _record(True, minilm, ds, trained_parts)
    path = record.save(tmp_path / "ship" / "tuning_record.md")
    assert path == tmp_path / "ship" / "tuning_record.md"
    weights = tmp_path / "ship" / "tuned-model" / "model.safetensors"
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    written = path.read_text(encoding="utf-8")
    assert written == record.markdown
    assert f"- Tuned weights: `{weights.parent}`, model.safetensors sha256 `{sha}`." in written
    assert written.count("- Tuned weights:") == 1
    record.save(path)  # saved again: still one line for the weights
    assert path.read_text(encoding="utf-8").count("- Tuned weights:") == 1
    assert embedlab.load_model(str(weights.parent), device="cpu").max_seq_length == 128
    summary = record.summary
    assert summary.splitlines()[0] == "Decision: ship the tuned model."
    assert "- Base: `sentence-transformers/all-MiniLM-L6-v2`" in summary
    assert summary.splitlines()[-1].startswith("- Tuned weights:")

    kept = _record(False, minilm, ds, trained_parts)
    path = kept.save(tmp_path / "keep" / "tuning_record.md")
    assert sorted(p.name for p in path.parent.iterdir()) == ["tuning_record.md"]
    assert "Tuned weights" not in path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- warm


def test_warm_with_no_model_loads_nothing(monkeypatch, private_cache_dir):
    import embedlab.retrieval

    asked = []

    def fail(*args, **kwargs):
        raise AssertionError("warm evaluated a model it was not given")

    monkeypatch.setattr(embedlab.retrieval, "evaluate_model", fail)
    lab3.warm(lambda name: asked.append(name))
    assert asked == [lab3.BASE_MODEL]
    assert not (private_cache_dir / "embeddings.sqlite").exists()


@pytest.fixture(scope="module")
def learner_cache_file():
    """The learner's cache file, found before ``private_cache_dir`` moves the cache folder."""
    from embedlab.models import cache_dir

    return cache_dir() / "embeddings.sqlite"


@pytest.mark.slow
def test_warm_fills_exactly_what_the_notebook_reads_through_the_cache(
    minilm, learner_cache_file, private_cache_dir, monkeypatch
):
    """warm() asks the cache for exactly the keys the notebook's cached reads ask for (the
    base model on the knitting set, cell base-quality; on the course set, cell ship-check;
    the tuned model is evaluated with cache=False), and afterwards they miss nothing. The
    private cache starts as a copy of the learner's (read only), so a warmed machine encodes
    nothing here."""
    import sqlite3

    from embedlab.cache import EmbeddingCache, default_cache, spec_key, text_key

    private_cache_dir.mkdir(parents=True)
    copy = private_cache_dir / "embeddings.sqlite"
    EmbeddingCache(copy).close()
    if learner_cache_file.exists():
        with sqlite3.connect(f"file:{copy}", uri=True) as db:
            db.execute("ATTACH DATABASE ? AS learner", (f"file:{learner_cache_file}?mode=ro",))
            db.execute("INSERT OR IGNORE INTO vectors SELECT * FROM learner.vectors")
        db.close()
    asked: list[str] = []
    get_many = EmbeddingCache.get_many

    def recording(self, keys):
        asked.extend(keys)
        return get_many(self, keys)

    monkeypatch.setattr(EmbeddingCache, "get_many", recording)
    loaded = []

    def load(name: str):
        loaded.append(name)
        return minilm

    lab3.warm(load)
    assert loaded == [lab3.BASE_MODEL]
    warmed, asked[:] = set(asked), []
    cache = default_cache()
    assert cache.path == copy
    misses = cache.stats()["misses"]
    sets = [lab3.load_domain(), embedlab.load_course_retrieval()]
    for data in sets:  # what the notebook reads through the cache
        embedlab.evaluate_model(minilm, data)
    assert set(asked) == warmed
    assert cache.stats()["misses"] == misses
    query, document = spec_key(minilm, "query"), spec_key(minilm, "document")
    expected = {text_key(query, t) for data in sets for t in data.query_texts()}
    expected |= {text_key(document, t) for data in sets for t in data.doc_texts()}
    assert warmed == expected
