"""Lab 1's learner-answer catalogue: what a learner may type in each exercise cell, and what
the check must say (format: tests/learner_answers.py). The namespaces are the notebook's
state at each exercise, built once from the real models (MiniLM and the static model keep
it quick) and the real sentences."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from learner_answers import Case, judge, params
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

import embedlab
from embedlab.labs import lab1

MINI, STATIC = "all-MiniLM-L6-v2", "static-MiniLM-L6-v2-256d"
rng = np.random.default_rng(7)
LAT = [float(x) for x in np.round(11.5 + rng.gamma(2.0, 0.8, 40), 3)]
LAT[5], LAT[17] = 41.0, 29.5  # two slow calls, as on a shared machine
SECONDS = 0.731
P50, P95 = np.percentile(LAT, [50, 95])

CASES = [
    # --------------------------------------------------------------- exercise 0: mean pooling
    Case(
        "masked-mean",
        "0",
        "sentence_embeddings = (token_embeddings * mask).sum(dim=1) / mask.sum(dim=1)",
        True,
        "mean over its real tokens",
    ),
    Case(
        "float64-numpy",
        "0",
        "sentence_embeddings = ((token_embeddings * mask).sum(1) / mask.sum(1)).double().numpy()",
        True,
    ),
    Case(
        "list-of-lists",
        "0",
        "sentence_embeddings = ((token_embeddings * mask).sum(1) / mask.sum(1)).tolist()",
        True,
    ),
    Case(
        "einsum",
        "0",
        "m = mask[..., 0].float()\nsentence_embeddings = torch.einsum('ntd,nt->nd', token_embeddings, m) / m.sum(1, keepdim=True)",
        True,
    ),
    Case(
        "library-pooling",
        "0",
        "sentence_embeddings = minilm[1]({'token_embeddings': token_embeddings, 'attention_mask': mask[..., 0]})['sentence_embedding']",
        True,
    ),
    Case(
        "rebound-tokens",
        "0",
        "token_embeddings = token_embeddings * mask\nsentence_embeddings = token_embeddings.sum(1) / mask.sum(1)",
        True,
    ),
    Case("stub", "0", "sentence_embeddings = None", False, "still None"),
    Case(
        "encode-no-pooling",
        "0",
        "sentence_embeddings = minilm.encode(batch)",
        False,
        "unit vectors",
    ),
    Case(
        "pooled-then-normalised",
        "0",
        "s = (token_embeddings * mask).sum(1) / mask.sum(1)\nsentence_embeddings = torch.nn.functional.normalize(s, dim=1)",
        False,
        "before normalising",
    ),
    Case(
        "padding-averaged",
        "0",
        "sentence_embeddings = token_embeddings.mean(dim=1)",
        False,
        "averaged the padding",
    ),
    Case(
        "sum-not-mean",
        "0",
        "sentence_embeddings = (token_embeddings * mask).sum(dim=1)",
        False,
        "sum of the real tokens",
    ),
    Case(
        "padded-length",
        "0",
        "sentence_embeddings = (token_embeddings * mask).sum(1) / token_embeddings.shape[1]",
        False,
        "padded length",
    ),
    Case(
        "all-sentences-count",
        "0",
        "sentence_embeddings = (token_embeddings * mask).sum(1) / mask.sum()",
        False,
        "all sentences together",
    ),
    Case("cls-token", "0", "sentence_embeddings = token_embeddings[:, 0]", False, "[CLS]"),
    Case(
        "hidden-dim",
        "0",
        "sentence_embeddings = (token_embeddings * mask).mean(dim=-1)",
        False,
        "pool over the tokens",
    ),
    Case(
        "across-sentences",
        "0",
        "sentence_embeddings = (token_embeddings * mask).sum(dim=0)",
        False,
        "across the sentences",
    ),
    Case(
        "max-pair",
        "0",
        "sentence_embeddings = (token_embeddings * mask).max(dim=1)",
        False,
        "(values, indices)",
    ),
    Case("uncalled-method", "0", "sentence_embeddings = minilm.encode", False, "not its result"),
    Case("text", "0", "sentence_embeddings = 'done'", False, "is text"),
    Case("dict", "0", "sentence_embeddings = {'a': 1}", False, "is a dict"),
    # --------------------------------------------------------------- exercise a: embed()
    Case(
        "encode-document",
        "a",
        "def embed(model, texts):\n    return model.encode_document(texts, normalize_embeddings=True)",
        True,
        "with or without a Normalize",
    ),
    Case(
        "encode-normalised",
        "a",
        "def embed(model, texts):\n    return model.encode(texts, normalize_embeddings=True)",
        True,
    ),
    Case(
        "tensor",
        "a",
        "def embed(model, texts):\n    return model.encode_document(texts, normalize_embeddings=True, convert_to_tensor=True)",
        True,
    ),
    Case(
        "by-hand",
        "a",
        "def embed(model, texts):\n    v = model.encode_document(texts)\n    return v / np.linalg.norm(v, axis=1, keepdims=True)",
        True,
    ),
    Case("helper", "a", "def embed(model, texts):\n    return embedlab.embed(model, texts)", True),
    Case(
        "lists",
        "a",
        "def embed(model, texts):\n    return model.encode_document(texts, normalize_embeddings=True).tolist()",
        True,
    ),
    Case("stub", "a", "def embed(model, texts):\n    return None", False, "returns None"),
    Case("none", "a", "embed = None", False, "run the cell that defines"),
    Case(
        "no-normalize",
        "a",
        "def embed(model, texts):\n    return model.encode_document(texts)",
        False,
        "only because",
    ),
    Case(
        "global-model",
        "a",
        "def embed(model, texts):\n    return minilm.encode_document(texts, normalize_embeddings=True)",
        False,
        "model argument",
    ),
    Case(
        "global-texts",
        "a",
        "def embed(model, texts):\n    return model.encode_document(all_texts, normalize_embeddings=True)",
        False,
        "texts argument",
    ),
    Case(
        "first-text-only",
        "a",
        "def embed(model, texts):\n    return model.encode_document(texts[0], normalize_embeddings=True)",
        False,
        "one vector for a list",
    ),
    Case(
        "reversed",
        "a",
        "def embed(model, texts):\n    return model.encode_document(texts, normalize_embeddings=True)[::-1]",
        False,
        "another order",
    ),
    Case(
        "uncalled-method",
        "a",
        "def embed(model, texts):\n    return model.encode_document",
        False,
        "not its result",
    ),
    Case("one-argument", "a", "def embed(texts):\n    return texts", False, "raised TypeError"),
    Case(
        "overwritten-by-array",
        "a",
        "embed = minilm.encode_document(all_texts[:3], normalize_embeddings=True)",
        False,
        "not a function",
    ),
    Case("returns-text", "a", "def embed(model, texts):\n    return 'vectors'", False, "is text"),
    # --------------------------------------------------------------- exercise b: cosine matrices
    Case(
        "matmul",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = emb @ emb.T",
        True,
        "every sentence against every sentence",
    ),
    Case(
        "rounded-3",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = np.round(emb @ emb.T, 3)",
        True,
    ),
    Case(
        "float16",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = (emb @ emb.T).astype(np.float16)",
        True,
    ),
    Case(
        "model-similarity",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = models[name].similarity(emb, emb)",
        True,
    ),
    Case(
        "sklearn",
        "b",
        "from sklearn.metrics.pairwise import cosine_similarity\nsims = {}\nfor name, emb in embeddings.items():\n    sims[name] = cosine_similarity(emb)",
        True,
    ),
    Case(
        "np-dot",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = np.dot(emb, emb.T)",
        True,
    ),
    Case(
        "helper",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = embedlab.similarity(emb)",
        True,
    ),
    Case(
        "stub",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = None",
        False,
        "still None",
    ),
    Case(
        "overwritten-dict",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims = emb @ emb.T",
        False,
        "overwritten",
    ),
    Case(
        "dims-by-dims",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = emb.T @ emb",
        False,
        "numbers with each other",
    ),
    Case(
        "element-wise",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = emb * emb",
        False,
        "element by element",
    ),
    Case(
        "cosine-distance",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = 1 - emb @ emb.T",
        False,
        "a distance",
    ),
    Case(
        "euclidean",
        "b",
        "from sklearn.metrics.pairwise import euclidean_distances\nsims = {}\nfor name, emb in embeddings.items():\n    sims[name] = euclidean_distances(emb)",
        False,
        "a distance",
    ),
    Case(
        "one-model-twice",
        "b",
        f"sims = {{}}\nfor name, emb in embeddings.items():\n    sims[name] = embeddings[{MINI!r}] @ embeddings[{MINI!r}].T",
        False,
        "cosine matrix of",
    ),
    Case(
        "uncalled-function",
        "b",
        "from sklearn.metrics.pairwise import cosine_similarity\nsims = {}\nfor name, emb in embeddings.items():\n    sims[name] = cosine_similarity",
        False,
        "not its result",
    ),
    Case(
        "scaled",
        "b",
        "sims = {}\nfor name, emb in embeddings.items():\n    sims[name] = (emb @ emb.T) / 2",
        False,
        "not the cosine similarity",
    ),
    Case(
        "missing-model",
        "b",
        f"sims = {{{MINI!r}: embeddings[{MINI!r}] @ embeddings[{MINI!r}].T}}",
        False,
        "no entry for",
    ),
    # --------------------------------------------------------------- exercise c: percentiles
    Case(
        "percentile",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [50, 95])\nthroughput = len(texts) / seconds",
        True,
        "are right",
    ),
    Case(
        "rounded-as-printed",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [50, 95]).round(1)\nthroughput = round(len(texts) / seconds)",
        True,
    ),
    Case(
        "median-and-method",
        "c",
        "p50 = np.median(latencies_ms)\np95 = np.percentile(latencies_ms, 95, method='nearest')\nthroughput = len(texts) / seconds",
        True,
    ),
    Case(
        "torch-scalars",
        "c",
        "lat = torch.tensor(latencies_ms, dtype=torch.float32)\np50, p95 = lat.quantile(0.5), lat.quantile(0.95)\nthroughput = torch.tensor(len(texts) / seconds)",
        True,
    ),
    Case(
        "zero-d-arrays",
        "c",
        "p50 = np.array(np.percentile(latencies_ms, 50))\np95 = np.array(np.percentile(latencies_ms, 95))\nthroughput = np.float32(len(texts) / seconds)",
        True,
    ),
    Case(
        "one-element-array",
        "c",
        "p50 = np.percentile(latencies_ms, [50])\np95 = np.percentile(latencies_ms, [95])\nthroughput = len(texts) / seconds",
        True,
    ),
    Case(
        "statistics",
        "c",
        "import statistics\np50 = statistics.median(latencies_ms)\np95 = statistics.quantiles(latencies_ms, n=20)[-1]\nthroughput = len(texts) / seconds",
        True,
    ),
    Case(
        "pandas",
        "c",
        "import pandas as pd\ns = pd.Series(latencies_ms)\np50, p95 = s.quantile(0.5), s.quantile(0.95)\nthroughput = len(texts) / seconds",
        True,
    ),
    Case("stub", "c", "p50 = p95 = throughput = None", False, "still None"),
    Case(
        "string-with-unit",
        "c",
        "p50 = f'{np.percentile(latencies_ms, 50):.1f} ms'\np95 = np.percentile(latencies_ms, 95)\nthroughput = len(texts) / seconds",
        False,
        "not a string",
    ),
    Case(
        "both-in-p50",
        "c",
        "p50 = np.percentile(latencies_ms, [50, 95])\np95 = np.percentile(latencies_ms, 95)\nthroughput = len(texts) / seconds",
        False,
        "holds 2 numbers",
    ),
    Case(
        "mean",
        "c",
        "p50 = np.mean(latencies_ms)\np95 = np.percentile(latencies_ms, 95)\nthroughput = len(texts) / seconds",
        False,
        "That is the mean",
    ),
    Case(
        "fraction-not-percent",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [0.5, 0.95])\nthroughput = len(texts) / seconds",
        False,
        "takes a percent",
    ),
    Case(
        "swapped",
        "c",
        "p95, p50 = np.percentile(latencies_ms, [50, 95])\nthroughput = len(texts) / seconds",
        False,
        "swapped",
    ),
    Case(
        "maximum",
        "c",
        "p50 = np.percentile(latencies_ms, 50)\np95 = max(latencies_ms)\nthroughput = len(texts) / seconds",
        False,
        "maximum",
    ),
    Case(
        "fifth-percentile",
        "c",
        "p50 = np.percentile(latencies_ms, 50)\np95 = np.percentile(latencies_ms, 5)\nthroughput = len(texts) / seconds",
        False,
        "5th percentile",
    ),
    Case(
        "seconds-units",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [50, 95]) / 1000\nthroughput = len(texts) / seconds",
        False,
        "units",
    ),
    Case(
        "seconds-per-text",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [50, 95])\nthroughput = seconds / len(texts)",
        False,
        "seconds per text",
    ),
    Case(
        "counted-queries",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [50, 95])\nthroughput = len(latencies_ms) / seconds",
        False,
        "single queries",
    ),
    Case(
        "from-latency",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [50, 95])\nthroughput = 1000 / p50",
        False,
        "rate of single queries",
    ),
    Case(
        "per-millisecond",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [50, 95])\nthroughput = len(texts) / (seconds * 1000)",
        False,
        "units",
    ),
    Case(
        "dict",
        "c",
        "p50, p95 = np.percentile(latencies_ms, [50, 95])\nthroughput = {'texts/s': len(texts) / seconds}",
        False,
        "is a dict",
    ),
    # --------------------------------------------------------------- exercise d: tsne_map()
    Case(
        "reference",
        "d",
        "def tsne_map(vectors, perplexity):\n    return TSNE(n_components=2, perplexity=perplexity, random_state=SEED).fit_transform(vectors)",
        True,
        "uses its perplexity",
    ),
    Case(
        "exact-random-init",
        "d",
        "def tsne_map(vectors, perplexity):\n    tsne = TSNE(2, perplexity=perplexity, method='exact', init='random', random_state=SEED)\n    return tsne.fit_transform(vectors)",
        True,
    ),
    Case(
        "stub",
        "d",
        "def tsne_map(vectors, perplexity):\n    return None",
        False,
        "returns None",
    ),
    Case(
        "no-return",
        "d",
        "def tsne_map(vectors, perplexity):\n    coords = TSNE(2, perplexity=perplexity, random_state=SEED).fit_transform(vectors)",
        False,
        "returns None",
    ),
    Case(
        "overwritten-by-array",
        "d",
        f"tsne_map = TSNE(2, perplexity=30, random_state=SEED).fit_transform(embeddings[{MINI!r}])",
        False,
        "not a function",
    ),
    Case(
        "perplexity-ignored",
        "d",
        "def tsne_map(vectors, perplexity):\n    return TSNE(2, perplexity=10, random_state=SEED).fit_transform(vectors)",
        False,
        "ignores its perplexity",
    ),
    Case(
        "pca",
        "d",
        "def tsne_map(vectors, perplexity):\n    return PCA(n_components=2).fit_transform(vectors)",
        False,
        "ignores its perplexity",
    ),
    Case(
        "estimator",
        "d",
        "def tsne_map(vectors, perplexity):\n    return TSNE(2, perplexity=perplexity, random_state=SEED).fit(vectors)",
        False,
        "fit_transform",
    ),
    Case(
        "global-vectors",
        "d",
        f"def tsne_map(vectors, perplexity):\n    return TSNE(2, perplexity=perplexity, random_state=SEED).fit_transform(embeddings[{MINI!r}])",
        False,
        "vectors argument",
    ),
    Case(
        "three-components",
        "d",
        "def tsne_map(vectors, perplexity):\n    return TSNE(3, perplexity=perplexity, random_state=SEED).fit_transform(vectors)",
        False,
        "3 numbers per point",
    ),
    Case(
        "perplexity-too-large",
        "d",
        "def tsne_map(vectors, perplexity):\n    return TSNE(2, perplexity=50, random_state=SEED).fit_transform(vectors)",
        False,
        "must be less than n_samples",
    ),
    Case(
        "not-reproducible",
        "d",
        "def tsne_map(vectors, perplexity):\n    return TSNE(2, perplexity=perplexity, init='random').fit_transform(vectors)",
        False,
        "random_state",
    ),
    Case(
        "rows-shuffled",
        "d",
        "def tsne_map(vectors, perplexity):\n    xy = TSNE(2, perplexity=perplexity, random_state=SEED).fit_transform(vectors)\n    return np.random.default_rng(0).permutation(xy)",
        False,
        "rows in their order",
    ),
    # --------------------------------------------------------------- review
    Case("letters", "review", "review_answers = {1: 'b', 2: 'c', 3: 'b'}", True, "3 of 3 right"),
    Case("forms", "review", "review_answers = {1: '(b)', 2: 'C', 3: 'b.'}", True, "3 of 3 right"),
    Case(
        "string-keys",
        "review",
        "review_answers = {'1': 'b', '2': 'c', '3': 'b'}",
        True,
        "3 of 3 right",
    ),
    Case("list-in-order", "review", "review_answers = ['b', 'c', 'b']", True, "3 of 3 right"),
    Case("string", "review", "review_answers = 'b, c, b'", True, "3 of 3 right"),
    Case(
        "option-text",
        "review",
        "review_answers = {1: 'Yes: each model has its own scale.', 2: 'c', 3: 'the number of points'}",
        True,
        "3 of 3 right",
    ),
    Case(
        "stub",
        "review",
        "review_answers = {1: None, 2: None, 3: None}",
        False,
        "Answer the 3 questions first",
    ),
    Case(
        "one-wrong", "review", "review_answers = {1: 'a', 2: 'c', 3: 'b'}", False, "not quite (a)"
    ),
    Case(
        "not-an-option",
        "review",
        "review_answers = {1: 'e', 2: 'c', 3: 'b'}",
        False,
        "not one of the options",
    ),
    Case("half-done", "review", "review_answers = {1: 'b'}", False, "not answered yet"),
    Case("a-set", "review", "review_answers = {'b', 'c'}", False, "as a dict"),
    Case("a-number", "review", "review_answers = 2", False, "as a dict"),
    # --------------------------------------------------------------- hints and answers
    Case("no-argument", "hint", "step = None", True, "Give the exercise"),
    Case("number-zero", "hint", "step = 0", True, "mask"),
    Case("unknown", "hint", "step = 'z'", True, "No hint for 'z'"),
    Case("answer-no-argument", "answer", "step = None", True, "Give the exercise"),
]


@pytest.fixture(scope="module")
def state(minilm, static_model):
    """The notebook's state at each exercise (two of the three models, to keep it quick)."""
    from sentence_transformers.util import batch_to_device

    sentences = embedlab.load_sentences()
    texts, topics = sentences["text"].tolist(), sentences["topic"].tolist()
    models = {MINI: minilm, STATIC: static_model}
    batch = [
        "Reset your password.",
        "Preheat the oven before baking the carrots.",
        "Enable a second login step so your profile stays safe.",
    ]
    features = batch_to_device(minilm.preprocess(batch), minilm.device)
    token_embeddings = minilm[0](features)["token_embeddings"].detach()
    mask = features["attention_mask"].unsqueeze(-1)
    embeddings = {name: embedlab.embed(m, texts) for name, m in models.items()}
    base = {"np": np, "torch": torch, "embedlab": embedlab, "minilm": minilm, "models": models}
    return {
        "0": dict(base, token_embeddings=token_embeddings, mask=mask, batch=batch),
        "a": dict(base, all_texts=texts),
        "b": dict(base, embeddings=embeddings),
        "c": dict(base, latencies_ms=list(LAT), seconds=SECONDS, texts=texts),
        "d": dict(base, TSNE=TSNE, PCA=PCA, SEED=0, embeddings=embeddings, topics=topics),
        "review": {},
        "hint": {},
        "answer": {},
    }


def _printed(fn, *args) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args)
    print(out.getvalue(), end="")  # judge reads what was printed
    return out.getvalue()


CALLS = {
    "0": lambda ns: lab1.check_0(ns.get("sentence_embeddings"), ns["token_embeddings"], ns["mask"]),
    "a": lambda ns: lab1.check_a(ns.get("embed"), ns["models"]),
    "b": lambda ns: lab1.check_b(ns.get("sims"), ns["embeddings"]),
    "c": lambda ns: lab1.check_c(
        ns["latencies_ms"],
        ns.get("p50"),
        ns.get("p95"),
        len(ns["texts"]),
        ns["seconds"],
        ns.get("throughput"),
    ),
    "d": lambda ns: lab1.check_d(ns.get("tsne_map"), ns["embeddings"], ns["topics"]),
    "review": lambda ns: "3 of 3 right" in _printed(lab1.review, ns["review_answers"]),
    "hint": lambda ns: bool(_printed(lab1.hint, ns["step"])),
    "answer": lambda ns: bool(_printed(lab1.answer, ns["step"])),
}
# What a failure message must never show: the reference code, and the numbers the notebook
# prints (pooled lengths; p50/p95/throughput as the table prints them).
SECRETS = {
    "0": ["(token_embeddings * mask).sum(", "/ mask.sum(", "7.46", "6.31", "5.12"],
    "a": ["normalize_embeddings=True", "encode_document(texts, normalize"],
    "b": ["emb @ emb.T", "@ emb.T"],
    "c": [
        "np.percentile(latencies_ms, [50, 95])",
        "len(texts) / seconds",
        f"{P50:.1f}",
        f"{P95:.1f}",
        f"{len(LAT) and 96 / SECONDS:.1f}",
    ],
    "d": ["fit_transform(vectors)", "perplexity=perplexity"],
}


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 60
    assert {c.step for c in CASES} >= {"0", "a", "b", "c", "d", "review"}
    for step in ("0", "a", "b", "c", "d"):
        verdicts = {c.passed for c in CASES if c.step == step}
        assert verdicts == {True, False}, f"exercise {step} needs right and wrong answers"


@pytest.mark.parametrize("case", params("lab1", CASES))
def test_learner_answer(case, state):
    judge(case, state[case.step], CALLS[case.step], SECRETS.get(case.step, ()))
