"""Lab 1 "Generate and Compare Embeddings": checks, hints, review, and the lab's own helpers.

The notebook calls ``lab1.check_0(sentence_embeddings, token_embeddings, mask)`` (mean
pooling by hand), ``check_a(embed, models)`` (a function that returns unit vectors with any
model), ``check_b(sims, embeddings)`` (cosine matrices), ``check_c(latencies_ms, p50, p95,
n_texts, seconds, throughput)`` (percentiles and throughput) and ``check_d(tsne_map,
embeddings, topics)`` (a t-SNE function that uses its perplexity). Each check accepts any
correct answer (sentence-transformers, NumPy, torch, scikit-learn, the helper) and names a
wrong answer's mistake without giving the solution's numbers or code away.

The helpers only this lab uses: :func:`triplets` (matched anchor / paraphrase / hard
negative sentences) with :func:`item_heatmaps` and :func:`pairs_table`, :func:`dot_vs_cosine`
(the common mistake), :func:`speed_table` (all models timed), :func:`top_matches` and
:func:`search_box` (the live search box for class), and :func:`warm`.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from embedlab.embeddings import unit_rows
from embedlab.errors import InvalidInputError, check_texts
from embedlab.labs.base import Lab, Mistake, NotDone, Question, as_array, as_number, given

__all__ = [
    "LAB",
    "LEVEL",
    "MINUTES",
    "QUESTIONS",
    "TITLE",
    "TRIPLETS",
    "answer",
    "check_0",
    "check_a",
    "check_b",
    "check_c",
    "check_d",
    "dot_vs_cosine",
    "hint",
    "item_heatmaps",
    "needs",
    "pairs_table",
    "review",
    "search_box",
    "speed_table",
    "top_matches",
    "triplets",
    "warm",
]

TITLE = "Lab 1 · Generate and Compare Embeddings"
MINUTES = 30
LEVEL = "beginner"

HINTS = {
    "0": (
        "Multiplying by mask keeps the real tokens' vectors and zeroes the padding's (its last "
        "dimension of size 1 stretches over the 384 numbers). Then add up over the token "
        "dimension (dim=1) and divide by how many real tokens each sentence has: the mask "
        "can count them the same way."
    ),
    "a": (
        "Inside embed, call encode_document on the model argument with the texts argument. "
        "One of its keyword arguments asks for unit vectors: look for 'normalize' in "
        "help(model.encode_document)."
    ),
    "b": (
        "On unit vectors the cosine is the dot product. The matrix product of emb (sentences "
        "x numbers) with its transpose holds the dot product of every pair of rows."
    ),
    "c": (
        "np.percentile takes percents (0-100), one or a list of them. Throughput is texts "
        "per second: how many texts the batch held, divided by the seconds it took."
    ),
    "d": (
        "Build scikit-learn's TSNE with 2 components, the perplexity argument and "
        "random_state=SEED, and return what its fit_transform gives for the vectors argument."
    ),
    "review": (
        "Answer with letters, e.g. {1: 'b', 2: 'a', ...}; each question is about something "
        "this notebook showed."
    ),
}

QUESTIONS = [
    Question(
        "Two models score a pair 0.5. Can that mean different things?",
        {
            "a": "Only if one did not normalise.",
            "b": "Yes: each model has its own scale.",
            "c": "No: cosine is one scale.",
        },
        "b",
        {
            "a": "All three gave unit vectors; their scales still differ.",
            "b": "Right: see 'other topics'; a threshold does not carry over.",
            "c": "Same range, but 'other topics' differs by model.",
        },
    ),
    Question(
        "Why normalise before ranking by dot product?",
        {
            "a": "It saves memory.",
            "b": "It changes the cosine ranking.",
            "c": "Then dot product = cosine; else long vectors win.",
        },
        "c",
        {
            "a": "A unit vector has as many numbers: same memory.",
            "b": "Cosine ignores length: only the dot-product ranking changes.",
            "c": "Right: unnormalised, they disagreed on nearest neighbours.",
        },
    ),
    Question(
        "t-SNE's perplexity must be below:",
        {"a": "the dimensions", "b": "the number of points", "c": "the number of topics"},
        "b",
        {
            "a": "t-SNE looks at neighbouring points: dimensions set no limit.",
            "b": "Right: it is roughly the neighbours per point.",
            "c": "It counts neighbours: the map used 30 with 5 topics.",
        },
    ),
]

LAB = Lab("lab1", HINTS, QUESTIONS)
hint, answer, review, needs = LAB.hint, LAB.answer, LAB.review, LAB.needs

# Each hard-negative pair's first sentence (the anchor), its paraphrase and its hard
# negative, by sentence id: the paraphrase is the unpaired sentence after the pair.
TRIPLETS = (
    ("s04", "s06", "s05"),
    ("s15", "s17", "s16"),
    ("s24", "s26", "s25"),
    ("s34", "s36", "s35"),
    ("s43", "s45", "s44"),
    ("s53", "s55", "s54"),
    ("s62", "s64", "s63"),
    ("s72", "s74", "s73"),
    ("s81", "s83", "s82"),
    ("s91", "s93", "s92"),
)
# Exercise a runs the learner's embed on these (short, long, and a repeated word).
PROBE = (
    "Reset your password.",
    "The train to Lisbon leaves from platform four, so be there ten minutes early.",
    "Whisk whisk the egg whites.",
)


# --------------------------------------------------------------------------- reading answers


def _number(value: Any, name: str) -> float:
    """One real number; a string gets a message that does not echo it (it may be right)."""
    if isinstance(value, str | bytes):
        raise Mistake(f"{name} is text (a str): give the number itself, not a string.")
    if isinstance(value, Mapping):
        raise Mistake(f"{name} is a dict; it should be one number.")
    return as_number(value, name)


def _function(value: Any, name: str, args: str) -> Callable[..., Any]:
    """A function the learner wrote, or a :class:`Mistake` that says what it is instead."""
    if value is None:
        raise NotDone(f"{name} is None: run the cell that defines {name}({args}).")
    if not callable(value):
        raise Mistake(
            f"{name} is a {type(value).__name__}, not a function: it was overwritten. Run "
            f"the cell that defines {name}({args}) again, and pass the function itself."
        )
    return value


def _call(fn: Callable[..., Any], args: tuple, label: str, fix: str) -> Any:
    """Call a learner's function quietly; its exception becomes a :class:`Mistake`."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)
    except Exception as exc:
        why = str(exc)[:160].rstrip(". ")
        raise Mistake(f"{label} raised {type(exc).__name__}: {why}. {fix}") from None


def _matrix(value: Any, name: str, what: str) -> np.ndarray:
    """A float64 array, or a :class:`Mistake` that names what ``value`` is instead."""
    if hasattr(value, "fit") and hasattr(value, "get_params"):
        raise Mistake(
            f"{name} is a {type(value).__name__} estimator, not its result: .fit(X) returns "
            "the estimator, .fit_transform(X) the array."
        )
    if isinstance(value, str | bytes):
        raise Mistake(f"{name} is text (a str); it should be {what}.")
    arr = as_array(value, name)
    if arr.dtype == object:
        raise Mistake(f"{name} should be {what}, got a {type(value).__name__}.")
    return arr


def _same(a: np.ndarray, b: np.ndarray, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=atol)


# --------------------------------------------------------------------------- exercise 0

_RERUN_0 = (
    "token_embeddings and mask are no longer what the cell above made: run that cell again, "
    "then this one (put your result in sentence_embeddings only)."
)


def _tokens(token_embeddings: Any, mask: Any) -> tuple[np.ndarray, np.ndarray]:
    """The token vectors (n, length, dims) and the mask as (n, length, 1), or a Mistake."""
    try:
        tok, m = as_array(token_embeddings, "token_embeddings"), as_array(mask, "mask")
    except Mistake:
        raise Mistake(_RERUN_0) from None
    if tok.ndim != 3 or m.shape[:2] != tok.shape[:2] or m.size != tok.shape[0] * tok.shape[1]:
        raise Mistake(_RERUN_0)
    m = m.reshape(tok.shape[0], tok.shape[1], 1)
    if not np.isin(m, (0, 1)).all() or (m.sum(1) == 0).any():
        raise Mistake(_RERUN_0)
    return tok, m


def _pooling_shape(shape: tuple, n: int, length: int, dims: int) -> str:
    if shape == (n, length):
        return (
            f"you pooled over the {dims} numbers of each token: pool over the tokens "
            f"instead, so that each sentence keeps {dims} numbers."
        )
    if shape in ((n, length, dims), (n, length, 1)):
        return "there is still one entry per token: pool over the token dimension."
    if shape in ((length, dims), (dims,), (1, dims)):
        return "you pooled across the sentences: each sentence needs a vector of its own."
    return f"it should hold one vector per sentence, shape ({n}, {dims})."


def _pooling_values(got: np.ndarray, tok: np.ndarray, m: np.ndarray) -> str:
    """Why a (n, dims) answer is not the masked mean: the likely mistake."""
    summed = (tok * m).sum(1)
    mean = summed / m.sum(1)
    if np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3) and _same(got, unit_rows(mean)):
        return (
            "these are unit vectors, the model's final output (pooled, then normalised, as "
            "model.encode returns it). Give the pooled vectors before normalising: the next "
            "cell normalises them, so you see that step too."
        )
    if _same(got, tok.mean(1)) or _same(unit_rows(got), unit_rows(tok.mean(1))):
        return (
            "you averaged the padding too: every [PAD] counted as a token and pulled short "
            "sentences towards it. Keep only the real tokens (the mask)."
        )
    if _same(got, summed):
        return "this is the sum of the real tokens' vectors, not their mean."
    if _same(got, summed / tok.shape[1]):
        return (
            f"you divided every sentence by the padded length ({tok.shape[1]} tokens): "
            "divide by each sentence's own number of real tokens."
        )
    if _same(got, summed / m.sum()):
        return (
            "you divided by the real tokens of all sentences together: divide each "
            "sentence by its own number of real tokens."
        )
    if _same(got, tok[:, 0]):
        return "this is the first token's ([CLS]) vector: this model averages all real tokens."
    masked_max = np.where(m > 0, tok, -np.inf).max(1)
    if _same(got, masked_max) or _same(got, tok.max(1)):
        return "this is the largest value per number (max pooling): this model takes the mean."
    if (np.sum(unit_rows(got) * unit_rows(mean), axis=1) > 1 - 1e-6).all():
        return "each vector points the right way, but its length is not that of the mean."
    return "these are not the means of each sentence's real-token vectors."


@LAB.check("0")
def check_0(sentence_embeddings: Any, token_embeddings: Any, mask: Any) -> str:
    """Mean pooling by hand: each sentence's average over its real tokens (not normalised)."""
    given(sentence_embeddings, "sentence_embeddings")
    if isinstance(sentence_embeddings, tuple) and hasattr(sentence_embeddings, "indices"):
        raise Mistake(
            "sentence_embeddings is the (values, indices) pair that max returns: this model "
            "takes the mean of the real tokens, not their maximum."
        )
    tok, m = _tokens(token_embeddings, mask)
    got = _matrix(sentence_embeddings, "sentence_embeddings", "an array of pooled vectors")
    n, length, dims = tok.shape
    if got.shape != (n, dims):
        shape = _pooling_shape(got.shape, n, length, dims)
        raise Mistake(f"sentence_embeddings has shape {got.shape}: {shape}")
    if _same(got, (tok * m).sum(1) / m.sum(1)):
        return "each sentence's mean over its real tokens."
    raise Mistake(f"sentence_embeddings: {_pooling_values(got, tok, m)}")


# --------------------------------------------------------------------------- exercise a


def _models(models: Any) -> Mapping[str, Any]:
    if not isinstance(models, Mapping) or not models:
        raise Mistake(
            "models is no longer the dict of loaded models: run the cell that loads them again."
        )
    for name, model in models.items():
        if not callable(getattr(model, "encode_document", None)):
            raise Mistake(
                f"models[{name!r}] is not a model any more: run the cell that loads them again."
            )
    return models


def _embed_rows(fn: Callable, model: Any, label: str, dims: dict[str, int], name: str):
    """``fn(model, PROBE)`` as an array, or a Mistake about its type, shape or size."""
    out = _call(
        fn,
        (model, list(PROBE)),
        f"embed(model, texts) with {label}",
        "embed must work for any model and any list of texts.",
    )
    if out is None:
        raise NotDone(
            "embed returns None: replace the TODO with your code, and return the vectors."
        )
    got = _matrix(out, f"what embed returned for {label}", "an array, one row per text")
    n, want = len(PROBE), dims[name]
    if got.ndim == 1:
        raise Mistake(
            f"embed returned one vector for a list of {n} texts: return one row per text."
        )
    if got.ndim != 2:
        raise Mistake(f"embed returned shape {got.shape}: it should be one row per text.")
    if got.shape[0] != n:
        raise Mistake(
            f"embed returned {got.shape[0]} rows for the {n} texts it was given: embed its "
            "texts argument, all of it, not a list from the notebook."
        )
    if got.shape[1] != want:
        other = [o for o, d in dims.items() if d == got.shape[1] and o != name]
        why = (
            f"the size of {other[0]}'s vectors: use the model argument, not a model "
            "from the notebook."
            if other
            else f"{name} makes {want}."
        )
        raise Mistake(f"embed gave {name} rows of {got.shape[1]} numbers: {why}")
    return got


@LAB.check("a")
def check_a(embed: Any, models: Any) -> str:
    """``embed(model, texts)`` returns the model's unit vectors, one row per text, in order,
    also for the same model without its final ``Normalize`` module."""
    from embedlab.embeddings import without_normalize

    fn = _function(embed, "embed", "model, texts")
    models = _models(models)
    dims = {name: model.get_embedding_dimension() for name, model in models.items()}
    for name, model in models.items():
        ref = np.asarray(
            model.encode_document(list(PROBE), normalize_embeddings=True), dtype=np.float64
        )
        got = _embed_rows(fn, model, name, dims, name)
        agree = np.sum(unit_rows(got) * ref, axis=1)
        if (agree < 0.99).any():
            if (np.sum(unit_rows(got[::-1]) * ref, axis=1) > 0.99).all():
                raise Mistake("embed returned the rows in another order: keep the texts' order.")
            raise Mistake(
                f"embed's rows for {name} are not {name}'s vectors of the texts it was given: "
                "encode the texts argument with the model argument."
            )
        lengths = np.linalg.norm(got, axis=1)
        if not np.allclose(lengths, 1.0, atol=1e-3):
            raise Mistake(
                f"embed returned vectors of length {lengths.min():.3g} to {lengths.max():.3g} "
                f"with {name}: they should be unit vectors (length 1)."
            )
        raw = without_normalize(model)
        label = f"{name} without its Normalize module"
        lengths = np.linalg.norm(_embed_rows(fn, raw, label, dims, name), axis=1)
        if not np.allclose(lengths, 1.0, atol=1e-3):
            raise Mistake(
                f"embed returns unit vectors only because {name} ends in a Normalize module: "
                f"on the same model without it, embed returned vectors of length "
                f"{lengths.min():.2f} to {lengths.max():.2f}. Many models have no such module: "
                "make embed itself ask for unit vectors."
            )
    return "unit vectors, one per text, with or without a Normalize module."


# --------------------------------------------------------------------------- exercise b


def _embeddings(embeddings: Any) -> dict[str, np.ndarray]:
    rerun = "embeddings is no longer the dict of vectors: run the cell that makes it again."
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise Mistake(rerun)
    try:
        out = {name: as_array(e, f"embeddings[{name!r}]") for name, e in embeddings.items()}
    except Mistake:
        raise Mistake(rerun) from None
    if any(e.ndim != 2 for e in out.values()):
        raise Mistake(rerun)
    return out


@LAB.check("b")
def check_b(sims: Any, embeddings: Any) -> str:
    """Each model's (n, n) cosine matrix from its own vectors (rounded to 3 decimals is fine)."""
    given(sims, "sims")
    emb = _embeddings(embeddings)
    if not isinstance(sims, Mapping):
        shape = f" of shape {np.shape(sims)}" if hasattr(sims, "shape") else ""
        raise Mistake(
            f"sims is a {type(sims).__name__}{shape}, not the dict of one matrix per model: "
            "it was overwritten. Run the cell again with your line assigning to sims[name] "
            "inside the loop."
        )
    refs = {name: unit_rows(e) @ unit_rows(e).T for name, e in emb.items()}
    for name, e in emb.items():
        if name not in sims:
            raise Mistake(f"sims has no entry for {name!r}: fill sims[name] for every model.")
        s = _matrix(given(sims[name], f"sims[{name!r}]"), f"sims[{name!r}]", "a matrix")
        n, dims = e.shape
        if s.shape != (n, n):
            if s.shape == (dims, dims):
                why = "that compares the vectors' numbers with each other, not the sentences."
            elif s.shape == e.shape:
                why = "that is element by element: every sentence must meet every sentence."
            else:
                why = "one row and one column per sentence."
            raise Mistake(f"sims[{name!r}] has shape {s.shape}, expected ({n}, {n}): {why}")
        if np.allclose(np.diag(s), 0.0, atol=1e-3):
            raise Mistake(
                f"sims[{name!r}] has zeros on its diagonal: that is a distance, not a "
                "similarity. A sentence is identical to itself: cosine 1."
            )
        if np.allclose(s, refs[name], atol=1e-3):
            continue
        if np.allclose(s, e @ e.T, rtol=1e-4, atol=1e-4):
            raise Mistake(
                f"sims[{name!r}] are dot products of vectors that are not unit length: "
                "the cosine divides by both lengths."
            )
        other = [o for o, r in refs.items() if r.shape == s.shape and np.allclose(s, r, atol=1e-3)]
        if other:
            raise Mistake(
                f"sims[{name!r}] is the cosine matrix of {other[0]!r}: use the vectors of "
                "this loop's model."
            )
        raise Mistake(
            f"sims[{name!r}] is not the cosine similarity of each pair of rows of "
            f"embeddings[{name!r}] (off by up to {np.abs(s - refs[name]).max():.2f})."
        )
    return f"{len(emb)} cosine matrices, every sentence against every sentence."


# --------------------------------------------------------------------------- exercise c

_METHODS = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "nearest",
    "midpoint",
)


def _span(lat: np.ndarray, q: float) -> tuple[float, float]:
    """The lowest and highest ``q``-th percentile over NumPy's methods."""
    values = [float(np.percentile(lat, q, method=m)) for m in _METHODS]
    return min(values), max(values)


def _within(value: float, span: tuple[float, float], slack: float = 0.0) -> bool:
    """In the span, give or take ``slack`` (rounding) and 1e-4 relative (float32)."""
    lo, hi = span
    return lo - slack - 1e-4 * abs(lo) <= value <= hi + slack + 1e-4 * abs(hi)


def _percentile_mistake(v: float, q: int, lat: np.ndarray, other: tuple[float, float]) -> str:
    label = {50: "p50", 95: "p95"}[q]
    why = {50: "the median (50th percentile)", 95: "the 95th percentile"}[q]
    hint_ = ""
    if _within(v, other, 0.05):
        hint_ = " It is the other percentile: p50 and p95 are swapped."
    elif _within(v, _span(lat, q / 100), 0.05):
        hint_ = f" np.percentile takes a percent (0-100): you asked for the {q / 100:g}th."
    elif abs(v - lat.mean()) <= 0.05 + 1e-4 * abs(v):
        hint_ = " That is the mean: a few slow calls pull it around; use a percentile."
    elif abs(v - lat.max()) <= 0.05 + 1e-4 * abs(v):
        hint_ = " That is the slowest call (the maximum), not the 95th percentile."
    elif abs(v - lat.min()) <= 0.05 + 1e-4 * abs(v):
        hint_ = " That is the fastest call (the minimum)."
    elif _within(v * 1000, _span(lat, q), 0.05) or _within(v / 1000, _span(lat, q), 0.05):
        hint_ = " Check the units: latencies_ms is in milliseconds; keep them."
    elif q == 95 and _within(v, _span(lat, 5), 0.05):
        hint_ = " That is the 5th percentile, the fast end: p95 is the slow end."
    return f"{label} is not {why} of latencies_ms.{hint_}"


def _throughput_mistake(got: float, n_texts: int, seconds: float, lat: np.ndarray) -> str:
    close = lambda a, b: abs(a - b) <= max(1e-3 * abs(b), 1e-9)  # noqa: E731
    why = ""
    if close(got, seconds / n_texts):
        why = " That is seconds per text; throughput is texts per second."
    elif close(got, n_texts / seconds / 1000) or close(got, n_texts / seconds * 1000):
        why = " Check the units: seconds is in seconds, and throughput is per second."
    elif close(got, len(lat) / seconds):
        why = " You counted the timed single queries: count the texts of the batch run."
    elif close(got, 1 / seconds):
        why = " That is batches per second: count the texts the batch held."
    elif close(got, 1000 / float(np.median(lat))) or close(got, 1000 / float(np.mean(lat))):
        why = (
            " That is the rate of single queries, from the latencies: throughput here is "
            "about the batch run."
        )
    return f"throughput is not the batch's texts per second.{why}"


@LAB.check("c")
def check_c(
    latencies_ms: Any, p50: Any, p95: Any, n_texts: Any, seconds: Any, throughput: Any
) -> str:
    """p50 and p95 of the latencies (any standard percentile method, or rounded to the one
    decimal the notebook prints) and the throughput in texts per second (or rounded to an
    integer)."""
    for label, value in (("p50", p50), ("p95", p95), ("throughput", throughput)):
        given(value, label)
    try:
        lat = as_array(latencies_ms, "latencies_ms").ravel()
        n, secs = as_number(n_texts, "n_texts"), as_number(seconds, "seconds")
    except Mistake:
        lat, n, secs = np.array([]), 0.0, 0.0
    if lat.size < 2 or n < 1 or secs <= 0:
        raise Mistake(
            "latencies_ms or seconds is no longer what the timing cell measured: run that "
            "cell again, then this one."
        )
    spans = {50: _span(lat, 50), 95: _span(lat, 95)}
    for q, other, label, value in ((50, 95, "p50", p50), (95, 50, "p95", p95)):
        v = _number(value, label)
        if not _within(v, spans[q], 0.05):
            raise Mistake(_percentile_mistake(v, q, lat, spans[other]))
    got = _number(throughput, "throughput")
    if not (abs(got - n / secs) <= 0.5 + 1e-9 or abs(got - n / secs) <= 1e-3 * n / secs):
        raise Mistake(_throughput_mistake(got, int(n), secs, lat))
    return "p50, p95 and throughput are right."


# --------------------------------------------------------------------------- exercise d


def _neighbours(x: np.ndarray, k: int = 5) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)[:, 1:]


def _tsne_rows(fn: Callable, vectors: np.ndarray, perplexity: int) -> np.ndarray:
    label = f"tsne_map(vectors, {perplexity}) on {len(vectors)} vectors"
    out = _call(fn, (vectors, perplexity), label, "Fix tsne_map so that it runs on any vectors.")
    if out is None:
        raise NotDone(
            "tsne_map returns None: replace the TODO with your code, and return the coordinates."
        )
    xy = _matrix(out, "what tsne_map returned", "an array of 2-D coordinates")
    if xy.ndim != 2 or xy.shape[0] != len(vectors):
        rows = xy.shape[0] if xy.ndim else 0
        raise Mistake(
            f"tsne_map returned shape {xy.shape} for {len(vectors)} vectors"
            + (": map its vectors argument, not vectors from the notebook." if rows else ".")
            + " It should return one 2-D point per vector."
        )
    if xy.shape[1] != 2:
        raise Mistake(
            f"tsne_map returned {xy.shape[1]} numbers per point: a map has 2 (n_components=2)."
        )
    return xy


@LAB.check("d")
def check_d(tsne_map: Any, embeddings: Any, topics: Any) -> str:
    """``tsne_map(vectors, perplexity)`` returns an (n, 2) map that uses its perplexity, is
    the same on every call, and keeps topics together about as well as the vectors do."""
    fn = _function(tsne_map, "tsne_map", "vectors, perplexity")
    emb = _embeddings(embeddings)
    vectors = next(iter(emb.values()))
    t = np.asarray(list(topics) if not isinstance(topics, str | Mapping) else [])
    if t.ndim != 1 or len(t) != len(vectors):
        raise Mistake("topics is no longer one topic per sentence: run the data cell again.")
    pick = np.arange(0, len(vectors), 3)  # a small input keeps the check quick
    x, t = vectors[pick], t[pick]
    low, high = _tsne_rows(fn, x, 5), _tsne_rows(fn, x, 15)
    if np.allclose(low, high, atol=1e-6):
        raise Mistake(
            "tsne_map gave the same map for perplexity 5 and 15: it ignores its perplexity "
            "argument, so a title that states the perplexity would be wrong. Pass it on."
        )
    if not np.allclose(_tsne_rows(fn, x, 15), high, atol=1e-6):
        raise Mistake(
            "two calls with the same vectors and perplexity gave different maps: fix the "
            "random seed (random_state=SEED) so that the map is the same on every run."
        )
    base = float(np.mean(t[_neighbours(x)] == t[:, None]))
    kept = float(np.mean(t[_neighbours(high)] == t[:, None]))
    chance = float(np.sum((np.unique(t, return_counts=True)[1] / len(t)) ** 2))
    if kept < max(chance + 0.1, 0.6 * base):
        raise Mistake(
            f"in tsne_map's map only {kept:.0%} of each point's 5 nearest neighbours share "
            f"its topic (in the vectors: {base:.0%}): map the vectors as they are, rows in "
            "their order."
        )
    return "tsne_map uses its perplexity, is reproducible and keeps topics together."


# --------------------------------------------------------------------------- helpers


def triplets(sentences: pd.DataFrame | None = None) -> pd.DataFrame:
    """The matched items of Lab 1's sentences: for each hard-negative pair, its first
    sentence (the anchor), the anchor's paraphrase and its hard negative, as row positions
    in ``sentences`` (default: :func:`embedlab.load_sentences`), indexed by the pair's id.

    >>> triplets().iloc[0].tolist()
    [3, 5, 4]
    """
    from embedlab.data import load_sentences

    df = load_sentences() if sentences is None else sentences
    if not isinstance(df, pd.DataFrame) or not {"id", "pair_id"} <= set(df.columns):
        raise InvalidInputError("expected the table returned by embedlab.load_sentences().")
    row = {sid: i for i, sid in enumerate(df["id"])}
    if missing := sorted({s for t in TRIPLETS for s in t} - set(row)):
        raise InvalidInputError(
            f"the sentences {missing} are missing: pass the whole table from load_sentences()."
        )
    out = pd.DataFrame(
        [[row[s] for s in t] for t in TRIPLETS],
        columns=["anchor", "paraphrase", "hard_negative"],
        index=pd.Index([df["pair_id"].iloc[row[t[0]]] for t in TRIPLETS], name="pair_id"),
    )
    return out


def _square(value: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=float)
    if arr.shape != (n, n):
        raise InvalidInputError(f"{name} has shape {arr.shape}; expected ({n}, {n}).")
    return arr


def item_heatmaps(
    sims: Mapping[str, Any], sentences: pd.DataFrame, items: Sequence[int] = (0, 4)
) -> Any:
    """Heatmaps of the cosines within a few matched items (anchor, paraphrase, hard
    negative; :func:`triplets`), one per model, each row labelled with its kind and text."""
    from embedlab.plots import heatmaps

    table = triplets(sentences).iloc[list(items)]
    rows = table.to_numpy().ravel()
    texts = sentences["text"].tolist()
    kinds = ("anchor", "paraphrase", "hard neg.")
    labels = [
        f"{i // 3 + 1} {kinds[i % 3]}: {textwrap.shorten(texts[r], 34, placeholder='...')}"
        for i, r in enumerate(rows)
    ]
    n = len(texts)
    parts = {name: _square(s, n, f"sims[{name!r}]")[np.ix_(rows, rows)] for name, s in sims.items()}
    fig = heatmaps(parts, labels, title="Cosine similarity within matched items")
    short = [label.split(":")[0] for label in labels]
    for ax in fig.axes[: len(parts)]:
        ax.set_xticklabels(short)
    return fig


def pairs_table(sims: Mapping[str, Any], sentences: pd.DataFrame) -> pd.DataFrame:
    """Per model, over the matched items (:func:`triplets`): the mean cosine of each anchor
    with its paraphrase and with its hard negative, in how many items the paraphrase scores
    higher, and the mean cosine of sentences from different topics."""
    items = triplets(sentences)
    topics = sentences["topic"].to_numpy()
    other = np.not_equal.outer(topics, topics)
    rows = {}
    for name, s in sims.items():
        s = _square(s, len(topics), f"sims[{name!r}]")
        para = s[items["anchor"], items["paraphrase"]]
        hard = s[items["anchor"], items["hard_negative"]]
        rows[name] = {
            "paraphrase": para.mean(),
            "hard negative": hard.mean(),
            f"paraphrase higher (of {len(items)})": int((para > hard).sum()),
            "other topics": s[other].mean(),
        }
    return pd.DataFrame.from_dict(rows, orient="index").round(3)


def dot_vs_cosine(models: Mapping[str, Any], texts: Sequence[str]) -> pd.DataFrame:
    """Each model without its ``Normalize`` module: the range of its vectors' lengths, and
    for how many texts the nearest other text by dot product is not the nearest by cosine."""
    from embedlab.embeddings import without_normalize

    items = check_texts(texts)
    rows = {}
    for name, model in models.items():
        raw = np.asarray(without_normalize(model).encode_document(items), dtype=np.float64)
        lengths = np.linalg.norm(raw, axis=1)
        dot = raw @ raw.T
        cos = dot / np.outer(lengths, lengths)
        np.fill_diagonal(dot, -np.inf)  # a text is not its own neighbour
        np.fill_diagonal(cos, -np.inf)
        by_dot = dot.argmax(1)  # differs: its cosine is below the best (ties are not)
        differs = int((cos[np.arange(len(items)), by_dot] < cos.max(1) - 1e-9).sum())
        rows[name] = {
            "vector lengths": f"{lengths.min():.2f} to {lengths.max():.2f}",
            "nearest neighbour differs": f"{differs} of {len(items)}",
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def speed_table(
    models: Mapping[str, Any], queries: Sequence[str], texts: Sequence[str]
) -> pd.DataFrame:
    """Per model: p50 and p95 latency of single ``encode_query`` calls (after a warm-up) and
    the texts per second of one ``encode_document`` pass over ``texts`` in batches of 32.
    The index's name says the device and the torch threads."""
    import torch

    from embedlab.timing import measure_latency, measure_throughput

    rows = {}
    for name, model in models.items():
        lat = measure_latency(model, queries)
        rate = measure_throughput(model, texts, repeats=1)
        rows[name] = {"p50 ms": lat["p50_ms"], "p95 ms": lat["p95_ms"], "texts/s": rate}
    device = str(getattr(next(iter(models.values())), "device", "cpu"))
    table = pd.DataFrame.from_dict(rows, orient="index").round(1)
    return table.rename_axis(f"{device}, {torch.get_num_threads()} torch threads")


def top_matches(
    query: str,
    models: Mapping[str, Any],
    doc_embeddings: Mapping[str, Any],
    texts: Sequence[str],
    k: int = 5,
) -> pd.DataFrame:
    """The ``k`` texts closest to ``query`` for each model, side by side, with each model's
    query latency. ``doc_embeddings[name]`` are the unit vectors of ``texts`` by that model."""
    from embedlab.retrieval import top_k

    (query,) = check_texts(query, "query")
    columns = {}
    for name, model in models.items():
        start = time.perf_counter()
        q = np.asarray(model.encode_query([query], normalize_embeddings=True), dtype=np.float32)
        ms = (time.perf_counter() - start) * 1000
        scores = q @ np.asarray(doc_embeddings[name], dtype=np.float32).T
        best = top_k(scores, [f"{i:06d}" for i in range(len(texts))], k)[0]
        columns[f"{name} ({ms:.0f} ms)"] = [f"{scores[0, i]:.2f}  {texts[i]}" for i in best]
    return pd.DataFrame(columns, index=pd.RangeIndex(1, len(best) + 1, name="rank"))


def search_box(
    models: Mapping[str, Any], doc_embeddings: Mapping[str, Any], texts: Sequence[str]
) -> Any:
    """A text box and a model picker: type a query, see each model's top 5 and its latency.

    Without ipywidgets it prints how to install it and returns ``None``.
    """
    try:
        import ipywidgets as w
    except ImportError:
        print("The search box needs ipywidgets: pip install ipywidgets, then restart the kernel.")
        return None
    box = w.Text(
        placeholder="Type a query and press Enter",
        description="query",
        continuous_update=False,  # the value changes on Enter (or leaving the box)
        layout={"width": "60%"},
    )
    picker = w.SelectMultiple(options=list(models), value=tuple(models), description="models")
    out = w.Output()

    def show(_: Any = None) -> None:
        from IPython.display import display

        out.clear_output()
        with out:
            if box.value.strip() and picker.value:
                chosen = {n: models[n] for n in picker.value}
                table = top_matches(box.value, chosen, doc_embeddings, texts)
                print(f"Top {len(table)} for {box.value!r}:")
                with pd.option_context("display.max_colwidth", None):
                    display(table)

    box.observe(show, names="value")
    picker.observe(show, names="value")
    return w.VBox([w.HBox([box, picker]), out])


# --------------------------------------------------------------------------- warming


def warm(load: Callable[[str], Any]) -> None:
    """Fill the embedding cache with what the notebook reads through it: Lab 1's sentences
    by each course model (``load`` is a cached ``load_model``; a model it gives as ``None``
    is skipped)."""
    from embedlab.data import load_sentences
    from embedlab.embeddings import embed
    from embedlab.models import COURSE_MODELS

    texts = load_sentences()["text"].tolist()
    for name in COURSE_MODELS:
        model = load(name)
        if model is not None:
            embed(model, texts, cache=True)
